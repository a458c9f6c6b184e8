import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AuditEvent, AuditSink } from '../../src/core/audit-event.ts';
import { openStore } from '../../src/store/store.ts';
import { CredentialStore } from '../../src/vault/credentials.ts';
import { keyId, loadMasterKey, MASTER_KEY_ENV } from '../../src/vault/master-key.ts';
import { Vault } from '../../src/vault/vault.ts';
import { DB_PASSWORD, testSecret } from '../support/secrets.ts';
import { tempDir } from '../support/tmp.ts';

class MemoryAudit implements AuditSink {
  readonly events: AuditEvent[] = [];
  append(e: AuditEvent): Promise<void> {
    this.events.push(e);
    return Promise.resolve();
  }
}

describe('master key', () => {
  it('generates a 0600 key file on first use when asked, and reads it back', () => {
    const file = join(tempDir(), 'keys', 'master.key');
    const first = loadMasterKey({ file, generateIfMissing: true, env: {} });
    assert.equal(first.generated, true);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const again = loadMasterKey({ file, generateIfMissing: true, env: {} });
    assert.equal(again.generated, false);
    assert.equal(again.id, first.id);
  });

  it('prefers the environment variable, and refuses a missing or malformed key', () => {
    const key = randomBytes(32);
    const fromEnv = loadMasterKey({ file: '/nonexistent', generateIfMissing: false, env: { [MASTER_KEY_ENV]: key.toString('base64') } });
    assert.equal(fromEnv.source, 'env');
    assert.equal(fromEnv.id, keyId(key));
    assert.throws(() => loadMasterKey({ file: '/nonexistent/master.key', generateIfMissing: false, env: {} }), { code: 'PCS_VAULT_KEY_MISSING' });
    assert.throws(() => loadMasterKey({ generateIfMissing: false, env: { [MASTER_KEY_ENV]: 'too-short' } }), { code: 'PCS_VAULT_KEY_INVALID' });
    const bad = join(tempDir(), 'bad.key');
    writeFileSync(bad, 'AAAA');
    assert.throws(() => loadMasterKey({ file: bad, generateIfMissing: false, env: {} }), { code: 'PCS_VAULT_KEY_INVALID' });
  });
});

describe('vault envelopes (AES-256-GCM)', () => {
  const master = (k = randomBytes(32)) => ({ key: k, id: keyId(k), source: 'test', generated: false });

  it('round-trips, with a fresh IV every time', () => {
    const vault = new Vault(master());
    const a = vault.seal(DB_PASSWORD, 'credential:a');
    const b = vault.seal(DB_PASSWORD, 'credential:a');
    assert.notEqual(a, b);
    assert.ok(!a.includes(DB_PASSWORD));
    assert.equal(vault.open(a, 'credential:a').toString(), DB_PASSWORD);
  });

  it('refuses a ciphertext moved to another context, a tampered one, or another key', () => {
    const vault = new Vault(master());
    const sealed = vault.seal(DB_PASSWORD, 'credential:a');
    assert.throws(() => vault.open(sealed, 'credential:b'), { code: 'PCS_VAULT_DECRYPT_FAILED' });
    const env = JSON.parse(sealed) as { ct: string };
    const ct = Buffer.from(env.ct, 'base64');
    ct[0] = (ct[0] ?? 0) ^ 1;
    assert.throws(() => vault.open(JSON.stringify({ ...env, ct: ct.toString('base64') }), 'credential:a'), { code: 'PCS_VAULT_DECRYPT_FAILED' });
    const other = new Vault(master());
    assert.throws(() => other.open(sealed, 'credential:a'), (err: Error) => /sealed under master key/.test(err.message) && !err.message.includes(DB_PASSWORD));
    assert.throws(() => vault.open('not json', 'credential:a'), { code: 'PCS_VAULT_DECRYPT_FAILED' });
  });
});

describe('credential store', () => {
  it('keeps only ciphertext in the store, audits changes without the secret, and reveals on demand', async () => {
    const dir = tempDir();
    const dbFile = join(dir, 'store.db');
    const store = await openStore(`sqlite:${dbFile}`);
    const audit = new MemoryAudit();
    const vault = new Vault(loadMasterKey({ file: join(dir, 'master.key'), generateIfMissing: true, env: {} }));
    const creds = new CredentialStore(store, vault, audit);
    const key = testSecret('private-key');
    await creds.set('app-db', DB_PASSWORD, { kind: 'password', actor: 'alice' });
    await creds.set('box', key, { kind: 'private_key', actor: 'alice' });
    await creds.set('app-db', DB_PASSWORD + '-rotated', { kind: 'password', actor: 'bob' });

    assert.deepEqual((await creds.reveal('app-db'))?.secret, DB_PASSWORD + '-rotated');
    assert.equal((await creds.reveal('box'))?.kind, 'private_key');
    assert.equal(await creds.reveal('nope'), undefined);
    assert.deepEqual((await creds.list()).map((c) => [c.connection, c.kind, c.updatedBy]), [['app-db', 'password', 'bob'], ['box', 'private_key', 'alice']]);
    assert.equal(await creds.delete('box', 'carol'), true);
    assert.equal(await creds.delete('box', 'carol'), false);
    assert.deepEqual(audit.events.map((e) => `${e.type}:${String(e.data.connection)}:${e.actor}`), ['credential.set:app-db:alice', 'credential.set:box:alice', 'credential.set:app-db:bob', 'credential.deleted:box:carol']);
    assert.ok(!JSON.stringify(audit.events).includes(DB_PASSWORD));
    await store.close();

    for (const f of [dbFile, `${dbFile}-wal`]) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(f);
      } catch {
        continue;
      }
      assert.ok(!bytes.includes(DB_PASSWORD), `${f} holds the password in clear`);
      assert.ok(!bytes.includes(key), `${f} holds the key in clear`);
    }
  });
});
