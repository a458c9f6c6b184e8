// Cancel keys: each session gets a (pid, secret) made up by the gateway, mapped to the
// upstream's own key, which the client never sees. A CancelRequest with a known key opens
// a fresh connection to that upstream and sends the upstream's key; an unknown key is
// ignored silently, as PostgreSQL does (no oracle for guessing keys).
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { cancelRequest, sslRequest } from './codec/frontend-encode.ts';
import type { Duplex } from 'node:stream';
import type { DialTarget, Dialer } from '../../pipeline/dialer.ts';
import type { UpstreamKey, UpstreamTlsMode } from './upstream.ts';

export interface CancelTarget extends DialTarget {
  readonly tls: UpstreamTlsMode;
  readonly key: UpstreamKey;
}

interface Entry {
  readonly secret: Buffer;
  readonly target: CancelTarget;
}

const CANCEL_TIMEOUT_MS = 5_000;

export class CancelRegistry {
  readonly #byPid = new Map<number, Entry>();

  /** A fresh gateway key for a session; `release` when the session ends. */
  register(target: CancelTarget): { readonly pid: number; readonly secret: number } {
    let pid: number;
    do pid = randomBytes(4).readInt32BE(0) & 0x7fffffff;
    while (pid === 0 || this.#byPid.has(pid));
    const secretBytes = randomBytes(4);
    this.#byPid.set(pid, { secret: secretBytes, target });
    return { pid, secret: secretBytes.readInt32BE(0) };
  }

  release(pid: number): void {
    this.#byPid.delete(pid);
  }

  /** The upstream to cancel on, when pid and secret match a live session. */
  lookup(pid: number, secret: Buffer): CancelTarget | undefined {
    const entry = this.#byPid.get(pid);
    if (entry === undefined || secret.length !== entry.secret.length || !timingSafeEqual(secret, entry.secret)) return undefined;
    return entry.target;
  }
}

/** Sends the upstream's CancelRequest on a new connection; failures are swallowed (best effort, like libpq). */
export async function sendCancel(dialer: Dialer, target: CancelTarget): Promise<void> {
  let socket: Duplex;
  try {
    socket = await dialer.dial(target);
  } catch {
    return;
  }
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, CANCEL_TIMEOUT_MS);
    socket.once('error', done);
    socket.once('close', done);
    if (target.tls === 'disable') {
      socket.end(cancelRequest(target.key.pid, target.key.secret));
      return;
    }
    // The server may require TLS for every connection: ask, and cancel in clear if refused.
    socket.write(sslRequest());
    socket.once('data', (answer: Buffer) => {
      if (answer[0] !== 0x53 /* S */) {
        socket.end(cancelRequest(target.key.pid, target.key.secret));
        return;
      }
      const secured = tlsConnect({ socket, rejectUnauthorized: false });
      secured.once('error', done);
      secured.once('secureConnect', () => secured.end(cancelRequest(target.key.pid, target.key.secret)));
      secured.once('close', done);
    });
  });
}
