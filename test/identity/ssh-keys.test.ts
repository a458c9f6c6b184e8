// Registered SSH public keys: parsing (ssh2's) with OpenSSH's fingerprints, refusals of private
// keys, non-keys and unsupported types, the store's rows and uniqueness, the audit records, and
// the in-memory answer the login path gets (live, revoked, expired, unknown; across a restart).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GatewayError, type ErrorCode } from '../../src/core/errors.ts';
import { keyFingerprint, keyStatus, parsePublicKey, SshKeyService } from '../../src/identity/ssh-keys.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { openStore, type Store } from '../../src/store/store.ts';
import { certify, keygen, type KeyPair } from '../support/ssh-keygen.ts';
import { tempDir } from '../support/tmp.ts';
import { rejectsWith } from './helpers/errors.ts';
import { MemoryAudit } from './helpers/audit.ts';
import { storeDb } from '../support/store-db.ts';

const logger = createLogger('silent');

function throwsCode(fn: () => unknown, code: ErrorCode): GatewayError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected GatewayError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

const blobOf = (pub: string): Buffer => Buffer.from(pub.trim().split(/\s+/)[1] ?? '', 'base64');

describe('SSH public keys: parsing', () => {
  let ed: KeyPair;
  let ecdsa: KeyPair;
  let rsa: KeyPair;
  let rsaShort: KeyPair;
  let encrypted: KeyPair;
  before(async () => {
    [ed, ecdsa, rsa, rsaShort, encrypted] = await Promise.all([
      keygen('ed25519', { comment: 'ci@build' }),
      keygen('ecdsa', { extra: ['-b', '384'] }),
      keygen('rsa', { extra: ['-b', '2048'] }),
      keygen('rsa', { extra: ['-b', '1024'] }),
      keygen('ed25519', { extra: ['-N', 'not-a-real-passphrase'] }),
    ]);
  });

  it('reads ed25519, ecdsa and rsa lines with the fingerprint ssh-keygen prints', () => {
    for (const [pair, type] of [[ed, 'ssh-ed25519'], [ecdsa, 'ecdsa-sha2-nistp384'], [rsa, 'ssh-rsa']] as const) {
      const parsed = parsePublicKey(pair.pub);
      assert.equal(parsed.type, type);
      assert.equal(parsed.fingerprint, pair.fingerprint);
      assert.deepEqual(parsed.blob, blobOf(pair.pub));
      assert.equal(keyFingerprint(parsed.blob), pair.fingerprint);
    }
    assert.equal(parsePublicKey(ed.pub).comment, 'ci@build');
    // Surrounding whitespace and a missing comment are fine.
    assert.equal(parsePublicKey(`\n  ${ed.pub.split(' ').slice(0, 2).join(' ')}  \n`).fingerprint, ed.fingerprint);
  });

  it('refuses private keys, encrypted or not, without repeating them', async () => {
    const { readFileSync } = await import('node:fs');
    for (const pair of [ed, rsa, encrypted]) {
      const text = readFileSync(pair.file, 'utf8');
      const err = throwsCode(() => parsePublicKey(text), 'PCS_SSH_KEY_PRIVATE');
      assert.ok(!err.message.includes(text.split('\n')[1] ?? 'x'), 'the message never quotes the key');
    }
  });

  it('refuses what is not one public key line', () => {
    throwsCode(() => parsePublicKey(''), 'PCS_SSH_KEY_INVALID');
    throwsCode(() => parsePublicKey('   \n'), 'PCS_SSH_KEY_INVALID');
    throwsCode(() => parsePublicKey('hello world'), 'PCS_SSH_KEY_INVALID');
    throwsCode(() => parsePublicKey('ssh-ed25519 AAAA-not-base64'), 'PCS_SSH_KEY_INVALID');
    // A type that does not match the blob inside.
    throwsCode(() => parsePublicKey(`ssh-rsa ${ed.pub.split(' ')[1]}`), 'PCS_SSH_KEY_INVALID');
    const two = throwsCode(() => parsePublicKey(ed.pub + rsa.pub), 'PCS_SSH_KEY_INVALID');
    assert.match(two.message, /2 lines/);
    // authorized_keys options are not part of a key line.
    throwsCode(() => parsePublicKey(`from="10.0.0.1" ${ed.pub}`), 'PCS_SSH_KEY_INVALID');
    throwsCode(() => parsePublicKey('x'.repeat(20_000)), 'PCS_SSH_KEY_INVALID');
  });

  it('refuses short RSA keys, certificates, DSA and FIDO keys', async () => {
    const short = throwsCode(() => parsePublicKey(rsaShort.pub), 'PCS_SSH_KEY_UNSUPPORTED');
    assert.match(short.message, /type ssh-rsa of 1024 bits are not accepted/);
    const cert = await certify(await keygen('ed25519'));
    const c = throwsCode(() => parsePublicKey(cert), 'PCS_SSH_KEY_UNSUPPORTED');
    assert.match(c.message, /ssh-ed25519-cert-v01@openssh.com/);
    throwsCode(() => parsePublicKey('ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7 dsa@old'), 'PCS_SSH_KEY_UNSUPPORTED');
    throwsCode(() => parsePublicKey('sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIJ8HAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABHNzaDo= fido'), 'PCS_SSH_KEY_UNSUPPORTED');
  });
});

describe('SSH public keys: the service', () => {
  let store: Store;
  let dir: string;
  let audit: MemoryAudit;
  let keys: SshKeyService;
  let ed: KeyPair;
  let other: KeyPair;
  let rsa: KeyPair;

  before(async () => {
    dir = tempDir('pcs-sshkeys-');
    store = await openStore(`sqlite:${join(dir, 'portcullis.db')}`);
    audit = new MemoryAudit();
    keys = await SshKeyService.open({ store, audit, logger, issuer: 'portcullis-test' });
    [ed, other, rsa] = await Promise.all([keygen('ed25519'), keygen('ed25519'), keygen('rsa', { extra: ['-b', '2048'] })]);
  });
  after(async () => {
    await store.close();
  });

  it('registers a key, audits it, and identifies a login with it as an agent of that subject', async () => {
    const key = await keys.add({ subject: 'ci-agent', groups: ['agents', 'build', 'agents'], publicKey: ed.pub, expiresInSeconds: 3600, createdBy: 'alice' });
    assert.match(key.id, /^key_[0-9a-f]{12}$/);
    assert.equal(key.fingerprint, ed.fingerprint);
    assert.equal(key.type, 'ssh-ed25519');
    assert.deepEqual(key.groups, ['agents', 'build']);
    assert.equal(key.comment, 'ed25519@test');
    assert.ok(key.expiresAt !== null && Math.abs(key.expiresAt - (Date.now() + 3_600_000)) < 5_000);

    const added = audit.ofType('ssh_key.added');
    assert.equal(added.length, 1);
    assert.equal(added[0]?.actor, 'alice');
    assert.deepEqual(added[0]?.data, { id: key.id, fingerprint: ed.fingerprint, key_type: 'ssh-ed25519', subject: 'ci-agent', groups: ['agents', 'build'], comment: 'ed25519@test', expires_at: key.expiresAt });

    const found = keys.identify(blobOf(ed.pub));
    assert.ok(found.ok);
    assert.deepEqual(found.identity, { subject: 'ci-agent', groups: ['agents', 'build'], roles: ['agent'], issuer: 'portcullis-test', method: 'ssh-key', expiresAt: Math.floor((key.expiresAt ?? 0) / 1000) });
    assert.equal(found.identity.tokenId, undefined);

    const row = await storeDb(store).selectFrom('ssh_keys').selectAll().where('id', '=', key.id).executeTakeFirstOrThrow();
    assert.equal(row.public_key, blobOf(ed.pub).toString('base64'));
    assert.equal(row.created_by, 'alice');
    assert.equal(JSON.parse(row.groups)[0], 'agents');
  });

  it('refuses the same key twice while it is registered; the store enforces it too', async () => {
    const err = await rejectsWith(keys.add({ subject: 'someone-else', groups: [], publicKey: ed.pub, createdBy: 'alice' }), 'PCS_SSH_KEY_EXISTS');
    assert.match(err.message, /registered as key_[0-9a-f]+ for ci-agent/);
    const live = await storeDb(store).selectFrom('ssh_keys').selectAll().where('fingerprint', '=', ed.fingerprint).executeTakeFirstOrThrow();
    await assert.rejects(storeDb(store).insertInto('ssh_keys').values({ ...live, id: 'key_duplicate0' }).execute(), /UNIQUE/);
  });

  it('answers unknown for a key nobody registered, naming its fingerprint', () => {
    const found = keys.identify(blobOf(other.pub));
    assert.equal(found.ok, false);
    assert.ok(!found.ok);
    assert.equal(found.error.code, 'PCS_AUTH_KEY_UNKNOWN');
    assert.equal(found.fingerprint, other.fingerprint);
    assert.match(found.error.message, new RegExp(other.fingerprint.replace(/[+/]/g, '\\$&')));
  });

  it('refuses an expired registration at login', async () => {
    const key = await keys.add({ subject: 'short-lived', groups: ['agents'], publicKey: rsa.pub, expiresInSeconds: 60, createdBy: 'alice' });
    assert.ok(keys.identify(blobOf(rsa.pub)).ok);
    const later = keys.identify(blobOf(rsa.pub), (key.expiresAt ?? 0) + 1);
    assert.ok(!later.ok);
    assert.equal(later.error.code, 'PCS_AUTH_KEY_EXPIRED');
    assert.equal(later.key?.id, key.id);
    assert.equal(keyStatus(key, (key.expiresAt ?? 0) + 1), 'expired');
  });

  it('revokes by fingerprint or id, once; the login path refuses it at once; it can be registered again', async () => {
    const before = audit.ofType('ssh_key.revoked').length;
    const revoked = await keys.revoke(ed.fingerprint, 'bob');
    assert.equal(revoked.revokedBy, 'bob');
    assert.ok(revoked.revokedAt !== null);
    const refused = keys.identify(blobOf(ed.pub));
    assert.ok(!refused.ok);
    assert.equal(refused.error.code, 'PCS_AUTH_KEY_REVOKED');
    // Again, by id: a no-op, not audited twice.
    assert.equal((await keys.revoke(revoked.id, 'carol')).revokedBy, 'bob');
    const events = audit.ofType('ssh_key.revoked');
    assert.equal(events.length, before + 1);
    assert.deepEqual(events.at(-1)?.data, { id: revoked.id, fingerprint: ed.fingerprint, subject: 'ci-agent' });
    await rejectsWith(keys.revoke('key_000000000000', 'bob'), 'PCS_SSH_KEY_NOT_FOUND');
    await rejectsWith(keys.revoke('SHA256:nothing', 'bob'), 'PCS_SSH_KEY_NOT_FOUND');

    const again = await keys.add({ subject: 'ci-agent', groups: ['agents'], publicKey: ed.pub, comment: 'rotated', createdBy: 'alice' });
    const found = keys.identify(blobOf(ed.pub));
    assert.ok(found.ok);
    assert.equal(found.key.id, again.id);
    assert.equal(found.identity.expiresAt, undefined);
    assert.equal(again.comment, 'rotated');
  });

  it('lists registrations newest first, by subject, revoked ones on request', async () => {
    const all = await keys.list({ includeRevoked: true });
    assert.equal(all.length, 3);
    assert.ok(all.every((k, i) => i === 0 || (all[i - 1]?.createdAt ?? 0) >= k.createdAt));
    const live = await keys.list();
    assert.equal(live.length, 2);
    assert.deepEqual((await keys.list({ subject: 'ci-agent', includeRevoked: true })).map((k) => k.revokedAt === null), [true, false]);
    assert.equal((await keys.get(ed.fingerprint))?.revokedAt, null);
  });

  it('rebuilds the same answers from the store after a restart', async () => {
    const reopened = await SshKeyService.open({ store, audit: new MemoryAudit(), logger, issuer: 'portcullis-test' });
    const ok = reopened.identify(blobOf(ed.pub));
    assert.ok(ok.ok);
    assert.equal(ok.key.comment, 'rotated');
    const expired = reopened.identify(blobOf(rsa.pub), Date.now() + 120_000);
    assert.ok(!expired.ok);
    assert.equal(expired.error.code, 'PCS_AUTH_KEY_EXPIRED');
    assert.equal(reopened.identify(blobOf(other.pub)).ok, false);
  });

  it('keeps no registration it could not audit, and checks its input', async () => {
    const failing = await SshKeyService.open({ store, audit: { append: () => Promise.reject(new Error('audit down')) }, logger, issuer: 'portcullis-test' });
    await assert.rejects(failing.add({ subject: 'x', groups: [], publicKey: other.pub, createdBy: 'alice' }), /audit down/);
    assert.equal((await storeDb(store).selectFrom('ssh_keys').select('id').where('fingerprint', '=', other.fingerprint).execute()).length, 0);
    assert.equal(failing.identify(blobOf(other.pub)).ok, false);
    await rejectsWith(keys.add({ subject: '', groups: [], publicKey: other.pub, createdBy: 'alice' }), 'PCS_API_BAD_REQUEST');
    await rejectsWith(keys.add({ subject: 'x', groups: [], publicKey: other.pub, expiresInSeconds: 0, createdBy: 'alice' }), 'PCS_API_BAD_REQUEST');
  });
});
