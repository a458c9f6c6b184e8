// Key material of the SSH adapter: the gateway's own host key (generated on first start,
// kept under data_dir) and the upstream host keys it pins (configured, or recorded on first
// use). Key generation and parsing are ssh2's; nothing here does cryptography itself.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ssh2 from 'ssh2';

// ssh2 is CommonJS: its named exports are not visible to ESM imports.
const { utils } = ssh2;

export function loadOrCreateHostKey(dataDir: string): string {
  const file = join(dataDir, 'keys', 'ssh_host_ed25519_key');
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8');
    const parsed = utils.parseKey(key);
    if (parsed instanceof Error) throw new Error(`the SSH host key ${file} cannot be read (${parsed.message}); move it away to have a new one generated`);
    return key;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = generateHostKey();
  writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
  return key;
}

/**
 * A new ed25519 host key that ssh2 can read back. ssh2 strips leading zero bytes from the
 * public key it writes (mscdex/ssh2#1513), so about one key in 256 is unreadable: such a key is
 * thrown away and another drawn, which leaves the remaining keys uniformly random.
 */
export function generateHostKey(): string {
  for (let attempt = 0; attempt < 64; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) return pair.private;
  }
  throw new Error('could not generate a readable SSH host key');
}

/** `ssh-ed25519 AAAA...` of a raw public key blob, the form operators compare. */
export function keyLine(blob: Buffer): string {
  const type = blob.readUInt32BE(0);
  return `${blob.subarray(4, 4 + type).toString('latin1')} ${blob.toString('base64')}`;
}

/** Upstream host keys pinned on first use, one line per connection, in data_dir. */
export class PinnedHostKeys {
  readonly #file: string;
  #pins: Record<string, string> = {};
  /** The file as last read (mtime and size): the listener and the executor each pin, into one file. */
  #seen = '';

  constructor(dataDir: string) {
    this.#file = join(dataDir, 'ssh_known_hosts.json');
    this.#reload();
  }

  get(connection: string): string | undefined {
    this.#reload();
    return this.#pins[connection];
  }

  #reload(): void {
    let stamp = '';
    try {
      const st = statSync(this.#file);
      stamp = `${st.mtimeMs}:${st.size}`;
    } catch {
      stamp = 'none';
    }
    if (stamp === this.#seen) return;
    this.#seen = stamp;
    this.#pins = stamp === 'none' ? {} : (JSON.parse(readFileSync(this.#file, 'utf8')) as Record<string, string>);
  }

  pin(connection: string, line: string): void {
    this.#reload();
    this.#pins = { ...this.#pins, [connection]: line };
    mkdirSync(dirname(this.#file), { recursive: true });
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.#pins, null, 2), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.#file);
    this.#seen = '';
  }
}

/** The key part of a configured `host_key` ("ssh-ed25519 AAAA... comment" -> type and base64). */
export function normaliseKeyLine(line: string): string {
  const [type, data] = line.trim().split(/\s+/);
  return `${type ?? ''} ${data ?? ''}`;
}
