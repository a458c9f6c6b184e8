import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, importJWK, SignJWT, type JWK } from 'jose';
import { createAuthenticator } from '../../src/identity/authenticator.ts';
import { LocalIssuer } from '../../src/identity/local-issuer.ts';
import { SIGNING_KEY_META } from '../../src/identity/local-key.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { rejectsWith } from './helpers/errors.ts';
import { LOCAL_CONFIG, openLocal, type LocalFixture } from './helpers/local.ts';
import { storeDb } from '../support/store-db.ts';

const logger = createLogger('silent');
const opened: LocalFixture[] = [];
async function fixture(dir?: string): Promise<LocalFixture> {
  const f = await openLocal(dir);
  opened.push(f);
  return f;
}

after(async () => {
  for (const f of opened) await f.store.close().catch(() => undefined);
});

/** The sealed private JWK, opened with the vault: what an attacker with store + master key would get. */
async function privateJwk(f: LocalFixture): Promise<JWK> {
  const sealed = await f.store.meta.get(SIGNING_KEY_META);
  assert.ok(sealed);
  return JSON.parse(f.vault.open(sealed, 'local-issuer-key').toString('utf8')) as JWK;
}

describe('LocalIssuer', () => {
  it('issues an EdDSA token that verifies back to the same identity, and records and audits it', async () => {
    const f = await fixture();
    const issued = await f.issuer.issue({ subject: 'ci-agent', groups: ['developers', 'oncall'], roles: ['deployer'], ttlSeconds: 600, issuedBy: 'alice', description: 'CI' });
    assert.match(issued.jti, /^tok_[A-Za-z0-9_-]{22}$/);

    const header = decodeProtectedHeader(issued.token);
    assert.equal(header.alg, 'EdDSA');
    assert.equal(header.kid, f.issuer.publicJwks().keys[0]?.kid);
    const claims = decodeJwt(issued.token);
    assert.equal(claims.iss, LOCAL_CONFIG.issuer);
    assert.equal(claims.aud, LOCAL_CONFIG.audience);
    assert.equal(claims.jti, issued.jti);
    assert.equal(claims.auth_method, 'local');
    assert.equal(claims.exp, issued.expiresAt);
    assert.equal(claims.nbf, claims.iat);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 600);

    const identity = await f.issuer.verify(issued.token);
    assert.deepEqual(identity, {
      subject: 'ci-agent',
      groups: ['developers', 'oncall'],
      roles: ['deployer'],
      issuer: LOCAL_CONFIG.issuer,
      method: 'local',
      tokenId: issued.jti,
      expiresAt: issued.expiresAt,
    });

    const [record] = await f.issuer.list({ subject: 'ci-agent' });
    assert.equal(record?.jti, issued.jti);
    assert.deepEqual(record?.groups, ['developers', 'oncall']);
    assert.equal(record?.issuedBy, 'alice');
    assert.equal(record?.description, 'CI');
    assert.equal(record?.expiresAt, issued.expiresAt * 1000);
    assert.equal(record?.revokedAt, null);

    const [event] = f.audit.ofType('token.issued');
    assert.equal(event?.actor, 'alice');
    assert.equal(event?.data.jti, issued.jti);
    assert.ok(!JSON.stringify(f.audit.events).includes(issued.token), 'the audit log never holds the token');
  });

  it('uses default_ttl when no ttl is asked and refuses a ttl above max_ttl', async () => {
    const f = await fixture();
    const issued = await f.issuer.issue({ subject: 'bot', groups: [], issuedBy: 'admin' });
    const claims = decodeJwt(issued.token);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), LOCAL_CONFIG.default_ttl);
    await rejectsWith(f.issuer.issue({ subject: 'bot', groups: [], issuedBy: 'admin', ttlSeconds: LOCAL_CONFIG.max_ttl + 1 }), 'PCS_API_BAD_REQUEST', 'exceeds the maximum');
    await rejectsWith(f.issuer.issue({ subject: 'bot', groups: [], issuedBy: 'admin', ttlSeconds: 0 }), 'PCS_API_BAD_REQUEST');
  });

  it('adds the admin role through the authenticator for members of admin_groups', async () => {
    const f = await fixture();
    const auth = createAuthenticator({ config: { local_issuer: LOCAL_CONFIG, oidc: [], saml: [], admin_groups: ['admins'] }, localIssuer: f.issuer, logger });
    const admin = await f.issuer.issue({ subject: 'alice', groups: ['admins'], issuedBy: 'cli:root' });
    const dev = await f.issuer.issue({ subject: 'bob', groups: ['developers'], roles: ['deployer'], issuedBy: 'cli:root' });
    assert.deepEqual((await auth.authenticate(admin.token)).roles, ['admin']);
    assert.deepEqual((await auth.authenticate(dev.token)).roles, ['deployer']);
  });

  it('rejects an expired token, signed with the real key', async () => {
    const f = await fixture();
    const issued = await f.issuer.issue({ subject: 'ci-agent', groups: [], issuedBy: 'admin' });
    // Re-sign the real token's claims with the real key, moved into the past beyond the 30 s leeway.
    const claims = decodeJwt(issued.token);
    const key = await importJWK(await privateJwk(f), 'EdDSA');
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...claims, iat: now - 3600, nbf: now - 3600, exp: now - 60 })
      .setProtectedHeader({ alg: 'EdDSA', kid: f.issuer.publicJwks().keys[0]?.kid ?? '' })
      .sign(key);
    await rejectsWith(f.issuer.verify(expired), 'PCS_AUTH_TOKEN_EXPIRED');

    const early = await new SignJWT({ ...claims, nbf: now + 600 }).setProtectedHeader({ alg: 'EdDSA' }).sign(key);
    await rejectsWith(f.issuer.verify(early), 'PCS_AUTH_TOKEN_NOT_YET_VALID');
  });

  it('rejects a revoked token; revoke is idempotent and false for unknown ids', async () => {
    const f = await fixture();
    const issued = await f.issuer.issue({ subject: 'ci-agent', groups: [], issuedBy: 'admin' });
    assert.equal(await f.issuer.revoke(issued.jti, 'alice'), true);
    assert.equal(await f.issuer.revoke(issued.jti, 'alice'), true);
    assert.equal(await f.issuer.revoke('tok_unknown', 'alice'), false);
    const err = await rejectsWith(f.issuer.verify(issued.token), 'PCS_AUTH_TOKEN_REVOKED');
    assert.match(err.message, new RegExp(issued.jti));
    assert.equal(f.audit.ofType('token.revoked').length, 1);
    const [record] = await f.issuer.list();
    assert.equal(record?.revokedBy, 'alice');
    assert.ok(record?.revokedAt);
  });

  it('lists without expired tokens unless asked', async () => {
    const f = await fixture();
    const live = await f.issuer.issue({ subject: 'a', groups: [], issuedBy: 'admin' });
    const gone = await f.issuer.issue({ subject: 'b', groups: [], issuedBy: 'admin' });
    await storeDb(f.store).updateTable('tokens').set({ expires_at: Date.now() - 1000 }).where('jti', '=', gone.jti).execute();
    assert.deepEqual((await f.issuer.list()).map((r) => r.jti), [live.jti]);
    assert.equal((await f.issuer.list({ includeExpired: true })).length, 2);
    assert.deepEqual((await f.issuer.list({ subject: 'b', includeExpired: true })).map((r) => r.jti), [gone.jti]);
  });

  it('rejects a token signed by another key, and a validly signed token that was never recorded', async () => {
    const a = await fixture();
    const b = await fixture();
    const foreign = await b.issuer.issue({ subject: 'mallory', groups: ['admins'], issuedBy: 'mallory' });
    await rejectsWith(a.issuer.verify(foreign.token), 'PCS_AUTH_TOKEN_INVALID', 'signature verification failed');

    const key = await importJWK(await privateJwk(a), 'EdDSA');
    const now = Math.floor(Date.now() / 1000);
    const unrecorded = await new SignJWT({ groups: ['admins'] })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer(LOCAL_CONFIG.issuer)
      .setAudience(LOCAL_CONFIG.audience)
      .setSubject('mallory')
      .setJti('tok_forged')
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(key);
    await rejectsWith(a.issuer.verify(unrecorded), 'PCS_AUTH_TOKEN_INVALID', 'unknown token id');
    await rejectsWith(a.issuer.verify('not.a.jwt'), 'PCS_AUTH_TOKEN_MALFORMED');
  });

  it('keeps its key across a re-open of the same store: earlier tokens still verify', async () => {
    const first = await fixture();
    const issued = await first.issuer.issue({ subject: 'ci-agent', groups: ['developers'], issuedBy: 'admin' });
    const kid = first.issuer.publicJwks().keys[0]?.kid;
    await first.store.close();
    opened.splice(opened.indexOf(first), 1);

    const again = await fixture(first.dir);
    assert.equal(again.issuer.publicJwks().keys[0]?.kid, kid);
    assert.equal((await again.issuer.verify(issued.token)).subject, 'ci-agent');
  });

  it('issuers opening one store at the same time agree on the key (first writer wins)', async () => {
    const f = await fixture();
    await storeDb(f.store).deleteFrom('meta').where('key', '=', SIGNING_KEY_META).execute();
    // Both see no key, both generate one, only one insert lands and both load that one.
    const [x, y] = await Promise.all([
      LocalIssuer.open({ store: f.store, vault: f.vault, config: LOCAL_CONFIG, audit: f.audit }),
      LocalIssuer.open({ store: f.store, vault: f.vault, config: LOCAL_CONFIG, audit: f.audit }),
    ]);
    assert.equal(x.publicJwks().keys[0]?.kid, y.publicJwks().keys[0]?.kid);
    const issued = await x.issue({ subject: 'ci-agent', groups: [], issuedBy: 'admin' });
    assert.equal((await y.verify(issued.token)).subject, 'ci-agent');
  });

  it('publishes only the public key, and never writes the private key in clear to the store', async () => {
    const f = await fixture();
    await f.issuer.issue({ subject: 'ci-agent', groups: [], issuedBy: 'admin' });
    const [pub] = f.issuer.publicJwks().keys;
    assert.equal(pub?.kty, 'OKP');
    assert.equal(pub?.crv, 'Ed25519');
    assert.equal(pub?.d, undefined);

    const { d } = await privateJwk(f);
    assert.ok(d);
    // Check the database and its WAL/SHM companions, in base64url and raw form.
    const raw = Buffer.from(d, 'base64url');
    for (const name of readdirSync(f.dir).filter((n) => n.startsWith('portcullis.db'))) {
      const bytes = readFileSync(join(f.dir, name));
      assert.equal(bytes.includes(d), false, `${name} holds the private key (base64url)`);
      assert.equal(bytes.includes(raw), false, `${name} holds the private key (raw)`);
    }
  });
});
