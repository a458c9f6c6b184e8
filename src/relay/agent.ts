// The relay process (`portcullis relay run`): inside the private network, it dials out to the
// gateway's `listen.relay` over TLS and serves HTTP/2 on that connection. The gateway opens a
// CONNECT stream per upstream connection; the relay dials host:port if its own allow-list has
// it, and copies bytes both ways (pipeline() keeps each stream's backpressure). It never
// listens. When the tunnel drops it dials again, with capped exponential backoff and jitter.
import { generateKeyPairSync, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as h2server, constants as h2, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { pipeline } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Logger } from '../telemetry/logger.ts';
import { H, HELLO_PATH, prove, spkiBase64 } from './handshake.ts';

const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;
const DIAL_TIMEOUT_MS = 10_000;

export interface RelayAgentOptions {
  readonly name: string;
  /** The gateway's listen.relay. */
  readonly gateway: { readonly host: string; readonly port: number };
  /** PKCS#8 PEM of the relay's Ed25519 key; created on first run. */
  readonly keyFile: string;
  /** The enrolment secret from `portcullis relay add` (only the first connection needs it). */
  readonly secret?: string;
  /** `host:port` pairs this relay may dial; anything else is refused and logged. */
  readonly allow: readonly string[];
  /** The gateway's certificate is trusted by its SHA-256 fingerprint (hex, colons optional)... */
  readonly gatewayFingerprint?: string;
  /** ...or by this CA (PEM); neither: the system CAs. */
  readonly ca?: string;
  readonly version: string;
  readonly logger: Logger;
}

export interface RunningRelay {
  /** Resolves on the first accepted hello (tests wait on it). */
  readonly connected: () => Promise<void>;
  stop(): void;
}

/** The relay's key: loaded, or created (mode 0600) on first run. */
export function loadOrCreateKey(file: string): KeyObject {
  if (existsSync(file)) return createPrivateKey(readFileSync(file));
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  return privateKey;
}

/** `host:port` with IPv6 brackets, as the gateway names CONNECT targets. */
export function normaliseTarget(text: string): string {
  return text.trim().toLowerCase();
}

export function runRelay(o: RelayAgentOptions): RunningRelay {
  const key = loadOrCreateKey(o.keyFile);
  const publicKey = spkiBase64(createPublicKey(key));
  const allow = new Set(o.allow.map(normaliseTarget));
  const pin = o.gatewayFingerprint?.replace(/:/g, '').toUpperCase();
  let stopped = false;
  let failures = 0;
  let current: TLSSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let onFirst: (() => void) | undefined;
  const first = new Promise<void>((resolve) => (onFirst = resolve));

  const server = h2server();
  server.on('stream', (stream, headers) => {
    if (headers[h2.HTTP2_HEADER_PATH] === HELLO_PATH) return hello(stream);
    if (headers[h2.HTTP2_HEADER_METHOD] === h2.HTTP2_METHOD_CONNECT) return open(stream, headers);
    stream.respond({ [h2.HTTP2_HEADER_STATUS]: 404 }, { endStream: true });
  });
  server.on('sessionError', (err) => o.logger.debug({ err }, 'tunnel session error'));

  function hello(stream: ServerHttp2Stream): void {
    const socket = current;
    if (socket === undefined) return void stream.close(h2.NGHTTP2_CANCEL);
    stream.respond(
      { [h2.HTTP2_HEADER_STATUS]: 200, [H.name]: o.name, [H.version]: o.version, [H.key]: publicKey, [H.proof]: prove(socket, key), ...(o.secret !== undefined ? { [H.secret]: o.secret } : {}) },
      { endStream: true },
    );
    failures = 0;
    o.logger.info({ gateway: `${o.gateway.host}:${o.gateway.port}` }, 'connected to the gateway');
    onFirst?.();
  }

  function open(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const target = normaliseTarget(String(headers[h2.HTTP2_HEADER_AUTHORITY] ?? ''));
    stream.on('error', (err) => o.logger.debug({ err, target }, 'stream error'));
    if (!allow.has(target)) {
      o.logger.warn({ target }, 'refused an upstream not on the allow list');
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: 403, [H.reason]: `${target} is not on the relay's allow list` }, { endStream: true });
      return;
    }
    const i = target.lastIndexOf(':');
    const upstream = netConnect({ host: target.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(target.slice(i + 1)) });
    upstream.setNoDelay(true);
    const timeout = setTimeout(() => upstream.destroy(new Error('timed out')), DIAL_TIMEOUT_MS);
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timeout);
      if (stream.headersSent) return;
      o.logger.warn({ target, err: err.code ?? err.message }, 'upstream unreachable');
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: 502, [H.reason]: `cannot reach ${target} (${err.code ?? 'error'})` }, { endStream: true });
    });
    upstream.once('connect', () => {
      clearTimeout(timeout);
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200 });
      o.logger.debug({ target }, 'stream opened');
      pipeline(stream, upstream, () => undefined);
      pipeline(upstream, stream, () => undefined);
    });
  }

  function dial(): void {
    if (stopped) return;
    const socket = tlsConnect({
      host: o.gateway.host,
      port: o.gateway.port,
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.3',
      ...(pin !== undefined ? { rejectUnauthorized: false } : o.ca !== undefined ? { ca: readFileSync(o.ca) } : {}),
    });
    current = socket;
    socket.once('secureConnect', () => {
      if (pin !== undefined) {
        const raw = socket.getPeerCertificate().raw as Buffer | undefined;
        const got = raw === undefined ? '' : new X509Certificate(raw).fingerprint256.replace(/:/g, '');
        if (got !== pin) {
          o.logger.error({ expected: pin, got }, 'the gateway certificate is not the pinned one; not connecting');
          socket.destroy();
          return;
        }
      }
      server.emit('connection', socket);
    });
    socket.on('error', (err) => o.logger.warn({ err: (err as NodeJS.ErrnoException).code ?? err.message }, 'tunnel error'));
    socket.once('close', () => {
      if (current === socket) current = undefined;
      if (stopped) return;
      failures += 1;
      // Full jitter: relays that lost the gateway together do not all come back at once.
      const wait = Math.random() * Math.min(BACKOFF_BASE_MS * 2 ** (failures - 1), BACKOFF_MAX_MS);
      o.logger.info({ retry_ms: Math.round(wait) }, 'tunnel closed; dialling again');
      timer = setTimeout(dial, wait);
    });
  }

  dial();
  return {
    connected: () => first,
    stop() {
      stopped = true;
      clearTimeout(timer);
      current?.destroy();
      server.close();
    },
  };
}
