// The gateway's own SSH connection to the upstream host: the vaulted (or configured) key or
// password, and the upstream host key checked against the configured one or the pin recorded
// on first use. A changed key is refused before any credential is sent.
import ssh2, { type Client, type ClientChannel, type ExecOptions } from 'ssh2';
import { GatewayError } from '../../core/errors.ts';
import type { Permit } from '../../pipeline/permit.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { SshConnection } from './client.ts';
import { keyLine, normaliseKeyLine, type PinnedHostKeys } from './keys.ts';

// ssh2 is CommonJS: its named exports are not visible to ESM imports.
const { Client: SshClient } = ssh2;

const READY_TIMEOUT_MS = 10_000;
const KEEPALIVE_MS = 15_000;

export interface UpstreamSecret {
  kind: string;
  secret: string;
}

export function openUpstream(connection: SshConnection, vaulted: UpstreamSecret | undefined, pins: PinnedHostKeys, logger: Logger): Promise<Client> {
  const u = connection.upstream;
  const privateKey = vaulted?.kind === 'private_key' ? vaulted.secret : u.private_key;
  const password = vaulted !== undefined && vaulted.kind !== 'private_key' ? vaulted.secret : u.password;
  return new Promise<Client>((resolve, reject) => {
    const up = new SshClient();
    let refusedKey: GatewayError | undefined;
    up.once('ready', () => {
      // As on the agent's side (server.ts): small requests must not wait for the peer's ACKs.
      up.setNoDelay(true);
      resolve(up);
    });
    up.once('error', (err) => reject(refusedKey ?? new GatewayError('PCS_SSH_UPSTREAM_UNREACHABLE', { connection: connection.name, cause: (err as NodeJS.ErrnoException).code ?? err.message }, { cause: err })));
    up.connect({
      host: u.host,
      port: u.port,
      username: u.user,
      ...(privateKey !== undefined ? { privateKey } : {}),
      ...(password !== undefined ? { password } : {}),
      readyTimeout: READY_TIMEOUT_MS,
      // A host that vanished without closing the connection is noticed, and the connection dropped (then reopened on the next request).
      keepaliveInterval: KEEPALIVE_MS,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        const line = keyLine(key);
        const expected = u.host_key !== undefined ? normaliseKeyLine(u.host_key) : pins.get(connection.name);
        if (expected === undefined) {
          pins.pin(connection.name, line);
          logger.info({ connection: connection.name, host_key: line }, 'upstream SSH host key pinned on first use');
          return true;
        }
        if (expected === line) return true;
        refusedKey = new GatewayError('PCS_SSH_HOST_KEY_CHANGED', { connection: connection.name, expected: `${expected.slice(0, 40)}...`, got: `${line.slice(0, 40)}...` });
        logger.error({ connection: connection.name, expected, got: line }, 'upstream SSH host key mismatch');
        return false;
      },
    });
  });
}

/** Runs a command on the upstream host: only a decided (or approved) line has the Permit it takes. */
export function execOn(up: Client, _permit: Permit, command: string, opts: ExecOptions, callback: (err: Error | undefined, stream: ClientChannel) => void): void {
  up.exec(command, opts, callback);
}
