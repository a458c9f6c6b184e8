// The gate's public-key login: the "would you accept this key?" query and the signed login,
// each audited as token logins are (auth.login with the key's id and fingerprint; auth.failed
// with the code, the fingerprint and, for a registered key, its id and subject).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../../src/core/audit-event.ts';
import { GatewayError } from '../../src/core/errors.ts';
import type { Authenticator } from '../../src/identity/authenticator.ts';
import { SshKeyService } from '../../src/identity/ssh-keys.ts';
import { Gate } from '../../src/pipeline/gate.ts';
import { compilePolicies } from '../../src/policy/compile.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { openStore, type Store } from '../../src/store/store.ts';
import { MemoryAudit } from '../identity/helpers/audit.ts';
import { keygen, type KeyPair } from '../support/ssh-keygen.ts';
import { tempDir } from '../support/tmp.ts';

const logger = createLogger('silent');
const noTokens: Authenticator = { authenticate: () => Promise.reject(new GatewayError('PCS_AUTH_TOKEN_MISSING')) };
const blobOf = (pub: string): Buffer => Buffer.from(pub.trim().split(/\s+/)[1] ?? '', 'base64');
const ref = { connection: { name: 'build-box', type: 'ssh' }, protocol: 'ssh', clientAddr: '127.0.0.1:50000' };
/** Audit appends from the gate run in the background: let them land. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('gate: login with a registered public key', () => {
  let store: Store;
  let audit: MemoryAudit;
  let metrics: Metrics;
  let keys: SshKeyService;
  let gate: Gate;
  let registered: KeyPair;
  let stranger: KeyPair;
  let keyId: string;

  before(async () => {
    store = await openStore(`sqlite:${join(tempDir('pcs-gate-keys-'), 'portcullis.db')}`);
    audit = new MemoryAudit();
    metrics = new Metrics();
    keys = await SshKeyService.open({ store, audit, logger, issuer: 'portcullis' });
    gate = new Gate({ policies: () => compilePolicies([]), authenticator: noTokens, audit, metrics, logger, keys });
    [registered, stranger] = await Promise.all([keygen('ed25519'), keygen('ed25519')]);
    keyId = (await keys.add({ subject: 'ci-agent', groups: ['agents'], publicKey: registered.pub, createdBy: 'alice' })).id;
  });
  after(async () => {
    await store.close();
  });

  const last = (type: AuditEvent['type']): AuditEvent | undefined => audit.ofType(type).at(-1);

  it('answers the query for a registered key yes, and no for another (counted, not audited: clients offer every key they hold)', async () => {
    assert.equal(gate.acceptsKey(blobOf(registered.pub), ref), true);
    assert.equal(gate.acceptsKey(blobOf(stranger.pub), ref), false);
    await settle();
    assert.equal(audit.ofType('auth.failed').length, 0);
    // A signed attempt with an unknown key (a client that skips the query) is audited.
    assert.throws(() => gate.loginWithKey(blobOf(stranger.pub), ref, () => undefined), { code: 'PCS_AUTH_KEY_UNKNOWN' });
    await settle();
    assert.deepEqual(last('auth.failed'), {
      type: 'auth.failed',
      actor: 'anonymous',
      data: { protocol: 'ssh', connection: 'build-box', client: '127.0.0.1:50000', code: 'PCS_AUTH_KEY_UNKNOWN', method: 'ssh-key', fingerprint: stranger.fingerprint },
    });
  });

  it('logs in once the signature holds, audited with the key', async () => {
    let verified = 0;
    const identity = gate.loginWithKey(blobOf(registered.pub), ref, () => {
      verified++;
      return undefined;
    });
    assert.equal(verified, 1);
    assert.deepEqual(identity, { subject: 'ci-agent', groups: ['agents'], roles: ['agent'], issuer: 'portcullis', method: 'ssh-key' });
    await settle();
    assert.deepEqual(last('auth.login'), {
      type: 'auth.login',
      actor: 'ci-agent',
      data: { connection: 'build-box', protocol: 'ssh', session: null, client: '127.0.0.1:50000', method: 'ssh-key', token_id: null, key_id: keyId, fingerprint: registered.fingerprint },
    });
    const counted = await metrics.registry.getSingleMetricAsString('portcullis_authentications_total');
    assert.match(counted, /result="ok",method="ssh-key"} 1/);
    assert.match(counted, /result="PCS_AUTH_KEY_UNKNOWN",method="ssh-key"} 2/);
  });

  it('refuses a bad signature, and never asks for one from a key it does not know', async () => {
    assert.throws(() => gate.loginWithKey(blobOf(registered.pub), ref, () => 'the signature does not verify'), { code: 'PCS_AUTH_KEY_SIGNATURE_INVALID' });
    await settle();
    assert.deepEqual(last('auth.failed')?.data, { protocol: 'ssh', connection: 'build-box', client: '127.0.0.1:50000', code: 'PCS_AUTH_KEY_SIGNATURE_INVALID', method: 'ssh-key', fingerprint: registered.fingerprint, key_id: keyId, subject: 'ci-agent', reason: 'the signature does not verify' });
    assert.throws(() => gate.loginWithKey(blobOf(stranger.pub), ref, () => assert.fail('no signature check for an unknown key')), { code: 'PCS_AUTH_KEY_UNKNOWN' });
  });

  it('refuses a revoked key from the next attempt on', async () => {
    await keys.revoke(keyId, 'bob');
    assert.equal(gate.acceptsKey(blobOf(registered.pub), ref), false);
    assert.throws(() => gate.loginWithKey(blobOf(registered.pub), ref, () => undefined), { code: 'PCS_AUTH_KEY_REVOKED' });
    await settle();
    assert.equal(last('auth.failed')?.data.code, 'PCS_AUTH_KEY_REVOKED');
    assert.equal(last('auth.failed')?.data.subject, 'ci-agent');
  });

  it('accepts no key when the gateway has no key registry', () => {
    const bare = new Gate({ policies: () => compilePolicies([]), authenticator: noTokens, audit, metrics, logger });
    assert.equal(bare.acceptsKey(blobOf(stranger.pub), ref), false);
    assert.throws(() => bare.loginWithKey(blobOf(stranger.pub), ref, () => undefined), { code: 'PCS_AUTH_KEY_UNKNOWN' });
  });
});
