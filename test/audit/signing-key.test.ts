import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadOrCreateSigningKey, loadPublicKey } from '../../src/audit/signing-key.ts';
import { tempDir } from '../support/tmp.ts';

await test('audit signing key', async (t) => {
  await t.test('is generated on first use: 0600 key in a 0700 folder, .pub beside it', () => {
    const dir = join(tempDir('pcs-audit-key-'), 'keys');
    const file = join(dir, 'audit.pem');
    const key = loadOrCreateSigningKey(file);
    assert.equal(key.created, true);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.match(readFileSync(file, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    assert.match(readFileSync(`${file}.pub`, 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(key.privateKey.asymmetricKeyType, 'ed25519');

    const again = loadOrCreateSigningKey(file);
    assert.equal(again.created, false);
    assert.equal(again.keyId, key.keyId);
  });

  await t.test('has a key id of the first 16 hex chars of SHA-256 of the raw public key', () => {
    const key = loadOrCreateSigningKey(join(tempDir('pcs-audit-key-'), 'audit.pem'));
    const x = key.publicKey.export({ format: 'jwk' }).x ?? '';
    assert.equal(key.keyId, createHash('sha256').update(Buffer.from(x, 'base64url')).digest('hex').slice(0, 16));
    assert.match(key.keyId, /^[0-9a-f]{16}$/);
  });

  await t.test('loads the public key from the .pub or from the private PEM', () => {
    const file = join(tempDir('pcs-audit-key-'), 'audit.pem');
    const key = loadOrCreateSigningKey(file);
    assert.equal(loadPublicKey(`${file}.pub`).keyId, key.keyId);
    assert.equal(loadPublicKey(file).keyId, key.keyId);
  });

  await t.test('rewrites a missing .pub and refuses one that names another key', () => {
    const file = join(tempDir('pcs-audit-key-'), 'audit.pem');
    const key = loadOrCreateSigningKey(file);
    unlinkSync(`${file}.pub`);
    assert.equal(loadOrCreateSigningKey(file).keyId, key.keyId);
    assert.equal(loadPublicKey(`${file}.pub`).keyId, key.keyId);

    writeFileSync(`${file}.pub`, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    assert.throws(() => loadOrCreateSigningKey(file), { code: 'PCS_AUDIT_KEY_INVALID' });
  });

  await t.test('refuses files that are not Ed25519 keys', () => {
    const dir = tempDir('pcs-audit-key-');
    const rsa = join(dir, 'rsa.pem');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    assert.throws(() => loadOrCreateSigningKey(rsa), { code: 'PCS_AUDIT_KEY_INVALID', message: /not Ed25519/ });
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a key');
    assert.throws(() => loadOrCreateSigningKey(junk), { code: 'PCS_AUDIT_KEY_INVALID' });
    assert.throws(() => loadPublicKey(junk), { code: 'PCS_AUDIT_KEY_INVALID' });
    assert.throws(() => loadPublicKey(join(dir, 'missing.pub')), { code: 'PCS_AUDIT_KEY_INVALID', message: /ENOENT/ });
  });
});
