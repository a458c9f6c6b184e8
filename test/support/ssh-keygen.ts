// Throwaway SSH key pairs from the real ssh-keygen, for the tests of registered public keys.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './tmp.ts';

const run = promisify(execFile);

export interface KeyPair {
  /** The private key file (no passphrase), for `ssh -i`. */
  readonly file: string;
  /** The `.pub` line, trailing newline included. */
  readonly pub: string;
  readonly pubFile: string;
  /** What `ssh-keygen -l` prints as the fingerprint (SHA256:...). */
  readonly fingerprint: string;
}

/** `type`: ssh-keygen's -t (ed25519, ecdsa, rsa); `extra`: more flags (-b 2048, -N secret). */
export async function keygen(type: string, opts: { extra?: readonly string[]; comment?: string; dir?: string } = {}): Promise<KeyPair> {
  const file = join(opts.dir ?? tempDir('pcs-keys-'), `id_${type}`);
  const extra = opts.extra ?? [];
  await run('ssh-keygen', ['-q', '-t', type, ...(extra.includes('-N') ? [] : ['-N', '']), ...extra, '-C', opts.comment ?? `${type}@test`, '-f', file]);
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`]);
  const fingerprint = stdout.split(/\s+/)[1] ?? '';
  return { file, pub: readFileSync(`${file}.pub`, 'utf8'), pubFile: `${file}.pub`, fingerprint };
}

/** Signs `key.pubFile` with a throwaway CA: the certificate line (`...-cert-v01@openssh.com`). */
export async function certify(key: KeyPair): Promise<string> {
  const ca = await keygen('ed25519', { comment: 'test-ca' });
  await run('ssh-keygen', ['-q', '-s', ca.file, '-I', 'test', '-n', 'agent', key.pubFile]);
  return readFileSync(key.pubFile.replace(/\.pub$/, '-cert.pub'), 'utf8');
}
