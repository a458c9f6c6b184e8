// OidcVerifier and the authenticator against a real OpenID Provider (oidc-provider) on
// 127.0.0.1. Tokens the provider cannot produce (future nbf, foreign iss, forged algs) are
// signed with jose using the provider's own key.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, generateKeyPair, SignJWT } from 'jose';
import type { IdentityConfig, OidcIssuerConfig } from '../../src/config/schema.ts';
import { createAuthenticator } from '../../src/identity/authenticator.ts';
import { OidcVerifier } from '../../src/identity/oidc.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { rejectsWith } from './helpers/errors.ts';
import { MemoryAudit } from './helpers/audit.ts';
import { AUDIENCE, makeKey, OTHER_RESOURCE, SHORT_RESOURCE, startIdp, type IdpKey, type TestIdp } from './helpers/oidc-idp.ts';
import { LOCAL_CONFIG } from './helpers/local.ts';

const logger = createLogger('silent');

function oidcConfig(issuer: string, over: Partial<OidcIssuerConfig> = {}): OidcIssuerConfig {
  return {
    issuer,
    audience: AUDIENCE,
    subject_claim: 'sub',
    groups_claim: 'groups',
    roles_claim: 'roles',
    algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    clock_tolerance: 5,
    jwks_cooldown: 30,
    agent: true,
    ...over,
  };
}

const identityConfig = (oidc: OidcIssuerConfig[]): IdentityConfig => ({ local_issuer: LOCAL_CONFIG, oidc, saml: [], admin_groups: ['admins'] });

/** A token with the IdP's real key and whatever claims the provider would never put. */
async function forge(key: IdpKey, claims: Record<string, unknown>, kid = key.kid): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' }).sign(key.privateKey);
}

const now = (): number => Math.floor(Date.now() / 1000);

/** A port nothing listens on: bind one, note it, close it. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

describe('OIDC verification against a real provider', () => {
  let key1: IdpKey;
  let idp: TestIdp;

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    key1 = await makeKey('key-1');
    idp = await startIdp([key1]);
  });

  after(async () => {
    await idp.close();
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, [], 'no unhandled rejection during the OIDC tests');
  });

  it('accepts a valid client-credentials token: subject, groups, roles, agent', async () => {
    const audit = new MemoryAudit();
    const auth = createAuthenticator({ config: identityConfig([oidcConfig(idp.issuer)]), logger, audit });
    const token = await idp.token();
    const identity = await auth.authenticate(token);
    assert.equal(identity.subject, 'ci-agent');
    assert.equal(identity.issuer, idp.issuer);
    assert.equal(identity.method, 'oidc');
    assert.deepEqual(identity.groups, ['developers', 'oncall']);
    assert.deepEqual(identity.roles, ['deployer', 'agent']);
    assert.equal(identity.tokenId, decodeJwt(token).jti);
    assert.equal(identity.expiresAt, decodeJwt(token).exp);
    assert.equal(audit.events.length, 0, 'success is audited by the listener, not here');
  });

  it('gives members of admin_groups the admin role (and not the agent role)', async () => {
    const auth = createAuthenticator({ config: identityConfig([oidcConfig(idp.issuer)]), logger });
    const identity = await auth.authenticate(await idp.token({ client: 'ops-admin' }));
    assert.equal(identity.subject, 'ops-admin');
    assert.deepEqual(identity.roles, ['admin']);
  });

  it('reads subject, groups and roles from the configured claims; groups may be a string', async () => {
    const verifier = new OidcVerifier(oidcConfig(idp.issuer, { subject_claim: 'email', groups_claim: 'grp', roles_claim: 'perms' }), { logger });
    const t = now();
    const token = await forge(key1, { iss: idp.issuer, aud: AUDIENCE, sub: 'x', email: 'alice@example.com', grp: 'dev, ops  sre', perms: ['reader'], iat: t, exp: t + 60 });
    const identity = await verifier.verify(token);
    assert.equal(identity.subject, 'alice@example.com');
    assert.deepEqual(identity.groups, ['dev', 'ops', 'sre']);
    assert.deepEqual(identity.roles, ['reader']);
    const noSubject = await forge(key1, { iss: idp.issuer, aud: AUDIENCE, sub: 'x', iat: t, exp: t + 60 });
    await rejectsWith(verifier.verify(noSubject), 'PCS_AUTH_TOKEN_INVALID', 'missing subject claim email');
  });

  it('rejects an expired token', async () => {
    const verifier = new OidcVerifier(oidcConfig(idp.issuer, { clock_tolerance: 0 }), { logger });
    const token = await idp.token({ resource: SHORT_RESOURCE });
    const exp = decodeJwt(token).exp ?? 0;
    await sleep(Math.max(0, exp * 1000 - Date.now() + 50));
    await rejectsWith(verifier.verify(token), 'PCS_AUTH_TOKEN_EXPIRED');
  });

  it('rejects a token that is not valid yet', async () => {
    const verifier = new OidcVerifier(oidcConfig(idp.issuer), { logger });
    const t = now();
    const token = await forge(key1, { iss: idp.issuer, aud: AUDIENCE, sub: 'ci-agent', iat: t, nbf: t + 3600, exp: t + 7200 });
    await rejectsWith(verifier.verify(token), 'PCS_AUTH_TOKEN_NOT_YET_VALID');
  });

  it('rejects a token without an expiry', async () => {
    const verifier = new OidcVerifier(oidcConfig(idp.issuer), { logger });
    const token = await forge(key1, { iss: idp.issuer, aud: AUDIENCE, sub: 'ci-agent', iat: now() });
    await rejectsWith(verifier.verify(token), 'PCS_AUTH_TOKEN_INVALID', 'missing exp claim');
  });

  it('rejects a token from another issuer, even when signed with the right key', async () => {
    const verifier = new OidcVerifier(oidcConfig(idp.issuer), { logger });
    const t = now();
    const token = await forge(key1, { iss: 'https://evil.example', aud: AUDIENCE, sub: 'ci-agent', iat: t, exp: t + 60 });
    await rejectsWith(verifier.verify(token), 'PCS_AUTH_TOKEN_INVALID', 'wrong issuer');
  });

  it('rejects a token issued for another audience', async () => {
    const verifier = new OidcVerifier(oidcConfig(idp.issuer), { logger });
    await rejectsWith(verifier.verify(await idp.token({ resource: OTHER_RESOURCE })), 'PCS_AUTH_TOKEN_INVALID', 'wrong audience');
  });

  it('rejects a token whose payload was altered after signing', async () => {
    const verifier = new OidcVerifier(oidcConfig(idp.issuer), { logger });
    const [header, payload, signature] = (await idp.token()).split('.') as [string, string, string];
    const bytes = Buffer.from(payload, 'base64url');
    const at = bytes.indexOf('ci-agent');
    bytes[at] = 'x'.charCodeAt(0); // "ci-agent" becomes "xi-agent": one byte flipped
    const tampered = `${header}.${bytes.toString('base64url')}.${signature}`;
    await rejectsWith(verifier.verify(tampered), 'PCS_AUTH_TOKEN_INVALID', 'signature verification failed');
  });

  it('rejects alg none without fetching anything', async () => {
    const verifier = new OidcVerifier(oidcConfig(idp.issuer), { logger });
    const before = idp.jwksRequests;
    // The only hand-built token: jose refuses to produce an unsecured JWT in this form.
    const enc = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const t = now();
    const token = `${enc({ alg: 'none' })}.${enc({ iss: idp.issuer, aud: AUDIENCE, sub: 'ci-agent', iat: t, exp: t + 60 })}.`;
    await rejectsWith(verifier.verify(token), 'PCS_AUTH_TOKEN_INVALID', 'algorithm none is not allowed');
    assert.equal(idp.jwksRequests, before);
  });

  it('rejects an HS256 token keyed with the public key material (key confusion)', async () => {
    const verifier = new OidcVerifier(oidcConfig(idp.issuer), { logger });
    const t = now();
    const secret = new TextEncoder().encode(JSON.stringify(key1.publicJwk));
    const token = await new SignJWT({ iss: idp.issuer, aud: AUDIENCE, sub: 'ci-agent', iat: t, exp: t + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: key1.kid })
      .sign(secret);
    await rejectsWith(verifier.verify(token), 'PCS_AUTH_TOKEN_INVALID', 'algorithm HS256 is not allowed');
  });

  it('follows a key rotation: the new kid verifies after a refetch, the old one while still published', async () => {
    const rotating = await startIdp([key1]);
    try {
      const verifier = new OidcVerifier(oidcConfig(rotating.issuer, { jwks_cooldown: 0.2 }), { logger });
      const oldToken = await rotating.token();
      await verifier.verify(oldToken);
      assert.equal(rotating.jwksRequests, 1);

      const key2 = await makeKey('key-2');
      rotating.setKeys([key2, key1]); // key-2 signs now, key-1 is still published
      const newToken = await rotating.token();
      assert.equal((JSON.parse(Buffer.from(newToken.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }).kid, 'key-2');
      await sleep(250); // past the cooldown that follows the first fetch
      assert.equal((await verifier.verify(newToken)).subject, 'ci-agent');
      assert.equal(rotating.jwksRequests, 2, 'the unknown kid caused exactly one refetch');
      assert.equal((await verifier.verify(oldToken)).subject, 'ci-agent');
      assert.equal(rotating.jwksRequests, 2, 'the old kid is served from the cache');
    } finally {
      await rotating.close();
    }
  });

  it('refetches once for an unknown kid, then rejects; a burst causes at most one refetch per cooldown', async () => {
    const counted = await startIdp([key1]);
    try {
      const verifier = new OidcVerifier(oidcConfig(counted.issuer, { jwks_cooldown: 0.5 }), { logger });
      await verifier.verify(await counted.token());
      assert.equal(counted.jwksRequests, 1);
      await sleep(600);

      const stranger = await generateKeyPair('RS256');
      const t = now();
      const forged = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          new SignJWT({ iss: counted.issuer, aud: AUDIENCE, sub: 'mallory', iat: t, exp: t + 60 }).setProtectedHeader({ alg: 'RS256', kid: `unknown-${i}` }).sign(stranger.privateKey),
        ),
      );
      await rejectsWith(verifier.verify(forged[0] ?? ''), 'PCS_AUTH_TOKEN_INVALID', 'no matching key');
      assert.equal(counted.jwksRequests, 2, 'one refetch for the unknown kid');
      const results = await Promise.allSettled(forged.map((f) => verifier.verify(f)));
      assert.ok(results.every((r) => r.status === 'rejected'));
      assert.equal(counted.jwksRequests, 2, 'no further refetch within the cooldown');
    } finally {
      await counted.close();
    }
  });

  it('a burst of unknown kids after the cooldown is one refetch, not twenty', async () => {
    const counted = await startIdp([key1]);
    try {
      const verifier = new OidcVerifier(oidcConfig(counted.issuer, { jwks_cooldown: 0.2 }), { logger });
      await verifier.verify(await counted.token());
      await sleep(300);
      const stranger = await generateKeyPair('RS256');
      const t = now();
      const forged = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          new SignJWT({ iss: counted.issuer, aud: AUDIENCE, sub: 'mallory', iat: t, exp: t + 60 }).setProtectedHeader({ alg: 'RS256', kid: `burst-${i}` }).sign(stranger.privateKey),
        ),
      );
      const results = await Promise.allSettled(forged.map((f) => verifier.verify(f)));
      assert.ok(results.every((r) => r.status === 'rejected'));
      assert.equal(counted.jwksRequests, 2);
    } finally {
      await counted.close();
    }
  });

  it('reports an unreachable IdP quickly, keeps running, and recovers when it comes back', async () => {
    const port = await closedPort();
    const issuer = `http://127.0.0.1:${port}`;
    // Constructing does no I/O and does not throw although the IdP is down.
    const auth = createAuthenticator({ config: identityConfig([oidcConfig(issuer)]), logger });
    const t = now();
    const token = await forge(key1, { iss: issuer, aud: AUDIENCE, sub: 'ci-agent', iat: t, exp: t + 300 });

    const started = Date.now();
    await rejectsWith(auth.authenticate(token), 'PCS_AUTH_IDP_UNREACHABLE');
    await rejectsWith(auth.authenticate(token), 'PCS_AUTH_IDP_UNREACHABLE'); // within the backoff: no new attempt
    assert.ok(Date.now() - started < 3000, 'fails fast');

    const back = await startIdp([key1], port);
    try {
      await sleep(600); // the first backoff step
      assert.equal((await auth.authenticate(token)).subject, 'ci-agent');
    } finally {
      await back.close();
    }
  });

  it('rejects garbage as malformed and an unknown issuer as unknown', async () => {
    const audit = new MemoryAudit();
    const auth = createAuthenticator({ config: identityConfig([oidcConfig(idp.issuer)]), logger, audit });
    for (const garbage of ['garbage', 'a.b.c', 'x'.repeat(20_000), '....', `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.bm90IGpzb24.c2ln`]) {
      await rejectsWith(auth.authenticate(garbage), 'PCS_AUTH_TOKEN_MALFORMED');
    }
    await rejectsWith(auth.authenticate(''), 'PCS_AUTH_TOKEN_MISSING');
    const t = now();
    const stranger = await forge(key1, { iss: 'https://stranger.example', aud: AUDIENCE, sub: 'ci-agent', iat: t, exp: t + 60 });
    const err = await rejectsWith(auth.authenticate(stranger), 'PCS_AUTH_ISSUER_UNKNOWN');
    assert.match(err.message, /https:\/\/stranger\.example/);
    const failed = audit.ofType('auth.failed');
    assert.equal(failed.length, 7);
    assert.deepEqual(failed.at(-1)?.data, { code: 'PCS_AUTH_ISSUER_UNKNOWN', issuer: 'https://stranger.example' });
    assert.ok(!JSON.stringify(audit.events).includes(stranger), 'the token is never audited');
  });

  it('refuses plain http for an issuer that is not on a loopback host', () => {
    assert.throws(() => new OidcVerifier(oidcConfig('http://idp.example.com'), { logger }), { code: 'PCS_CONFIG_INVALID' });
    assert.throws(() => new OidcVerifier(oidcConfig('https://idp.example.com', { jwks_uri: 'http://idp.example.com/jwks' }), { logger }), { code: 'PCS_CONFIG_INVALID' });
    assert.doesNotThrow(() => new OidcVerifier(oidcConfig('https://idp.example.com'), { logger }));
  });

  it('uses a configured jwks_uri without discovery', async () => {
    const verifier = new OidcVerifier(oidcConfig(idp.issuer, { jwks_uri: `${idp.issuer}/jwks` }), { logger });
    assert.equal((await verifier.verify(await idp.token())).subject, 'ci-agent');
  });
});
