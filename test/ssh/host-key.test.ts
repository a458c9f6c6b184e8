// The gateway's own SSH host key: generated once under data_dir (0600) and read back on the
// next start; every generated key is one ssh2 can parse (ssh2 writes about one ed25519 key in
// 256 with a short public key, which would stop the SSH listener from starting); a key file
// that cannot be read is refused with its path, not replaced behind the operator's back.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { generateHostKey, loadOrCreateHostKey } from '../../src/protocols/ssh/keys.ts';
import { tempDir } from '../support/tmp.ts';

const { utils } = ssh2;

describe('SSH host key', () => {
  it('is always one ssh2 can parse, also over the draws where ssh2 writes a short public key', () => {
    // 2000 draws meet the short-key case about 8 times; a 1-in-256 failure would show here.
    for (let i = 0; i < 2000; i++) {
      const parsed = utils.parseKey(generateHostKey());
      assert.ok(!(parsed instanceof Error), `draw ${i}: ${String(parsed)}`);
      assert.equal(parsed.type, 'ssh-ed25519');
      assert.equal(parsed.getPublicSSH().length, 51, 'a 32-byte ed25519 public key');
    }
  });

  it('is generated once under data_dir with mode 0600 and read back on the next start', () => {
    const dir = tempDir('pcs-hostkey-');
    const first = loadOrCreateHostKey(dir);
    const file = join(dir, 'keys', 'ssh_host_ed25519_key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8'), first);
    assert.equal(loadOrCreateHostKey(dir), first);
  });

  it('refuses a key file it cannot read, naming the file', () => {
    const dir = tempDir('pcs-hostkey-');
    loadOrCreateHostKey(dir);
    const file = join(dir, 'keys', 'ssh_host_ed25519_key');
    writeFileSync(file, '-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n');
    assert.throws(() => loadOrCreateHostKey(dir), (e: Error) => e.message.includes(file) && e.message.includes('cannot be read'));
  });
});
