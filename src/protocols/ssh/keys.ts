// Key material of the SSH adapter: the gateway's own host key (generated on first start,
// kept under data_dir) and the upstream host keys it pins (configured, or recorded on first
// use). Key generation and parsing are ssh2's; nothing here does cryptography itself.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ssh2 from 'ssh2';

// ssh2 is CommonJS: its named exports are not visible to ESM imports.
const { utils } = ssh2;

export function loadOrCreateHostKey(dataDir: string): string {
  const file = join(dataDir, 'keys', 'ssh_host_ed25519_key');
  if (existsSync(file)) return readFileSync(file, 'utf8');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const pair = utils.generateKeyPairSync('ed25519');
  writeFileSync(file, pair.private, { mode: 0o600, flag: 'wx' });
  return pair.private;
}

/** `ssh-ed25519 AAAA...` of a raw public key blob, the form operators compare. */
export function keyLine(blob: Buffer): string {
  const type = blob.readUInt32BE(0);
  return `${blob.subarray(4, 4 + type).toString('latin1')} ${blob.toString('base64')}`;
}

/** Upstream host keys pinned on first use, one line per connection, in data_dir. */
export class PinnedHostKeys {
  readonly #file: string;
  #pins: Record<string, string>;

  constructor(dataDir: string) {
    this.#file = join(dataDir, 'ssh_known_hosts.json');
    this.#pins = existsSync(this.#file) ? (JSON.parse(readFileSync(this.#file, 'utf8')) as Record<string, string>) : {};
  }

  get(connection: string): string | undefined {
    return this.#pins[connection];
  }

  pin(connection: string, line: string): void {
    this.#pins = { ...this.#pins, [connection]: line };
    mkdirSync(dirname(this.#file), { recursive: true });
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.#pins, null, 2), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.#file);
  }
}

/** The key part of a configured `host_key` ("ssh-ed25519 AAAA... comment" -> type and base64). */
export function normaliseKeyLine(line: string): string {
  const [type, data] = line.trim().split(/\s+/);
  return `${type ?? ''} ${data ?? ''}`;
}
