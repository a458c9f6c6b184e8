// SamlExchange against responses signed by a real SAML IdP (samlify, schema-checked with
// xmllint), verified by node-saml, exchanged for gateway tokens from a real LocalIssuer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { SamlIdpConfig } from '../../src/config/schema.ts';
import { createAuthenticator } from '../../src/identity/authenticator.ts';
import { SamlExchange } from '../../src/identity/saml.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { rejectsWith } from './helpers/errors.ts';
import { LOCAL_CONFIG, openLocal, type LocalFixture } from './helpers/local.ts';
import { makeCertificate, startSamlIdp, type TestSamlIdp } from './helpers/saml-idp.ts';

const logger = createLogger('silent');
const IDP_ENTITY = 'https://idp.test/metadata';

function idpConfig(idp: TestSamlIdp, over: Partial<SamlIdpConfig> = {}): SamlIdpConfig {
  return { name: 'corp', idp_issuer: idp.entityId, idp_cert: idp.cert, audience: 'portcullis', groups_attribute: 'groups', token_ttl: 600, clock_tolerance: 30, ...over };
}

/** Replace text inside a base64 SAMLResponse, keeping everything else (signatures included). */
function edit(b64: string, from: string, to: string): string {
  const xml = Buffer.from(b64, 'base64').toString('utf8');
  assert.ok(xml.includes(from));
  return Buffer.from(xml.replace(from, to), 'utf8').toString('base64');
}

describe('SAML exchange', () => {
  let local: LocalFixture;
  let idp: TestSamlIdp;
  let exchange: SamlExchange;

  before(async () => {
    local = await openLocal();
    idp = startSamlIdp(IDP_ENTITY, makeCertificate('test-idp'));
    exchange = new SamlExchange({ idps: [idpConfig(idp)], localIssuer: local.issuer, audit: local.audit, logger });
  });

  after(async () => {
    await local.store.close();
  });

  it('exchanges a signed assertion for a gateway token the local issuer accepts', async () => {
    const res = await exchange.exchange(await idp.loginResponse({ nameId: 'alice@example.com', groups: ['developers', 'admins'] }));
    assert.equal(res.token_type, 'Bearer');
    assert.ok(res.expires_in > 590 && res.expires_in <= 600, `expires_in ${res.expires_in}`);
    assert.equal(res.identity.subject, 'alice@example.com');
    assert.deepEqual(res.identity.groups, ['developers', 'admins']);
    assert.equal(res.identity.method, 'saml');

    const verified = await local.issuer.verify(res.access_token);
    assert.equal(verified.subject, 'alice@example.com');
    assert.deepEqual(verified.groups, ['developers', 'admins']);
    assert.equal(verified.method, 'saml');
    assert.equal(verified.tokenId, res.identity.tokenId);
    assert.equal(decodeJwt(res.access_token).auth_method, 'saml');

    const auth = createAuthenticator({ config: { local_issuer: LOCAL_CONFIG, oidc: [], saml: [], admin_groups: ['admins'] }, localIssuer: local.issuer, logger });
    assert.deepEqual((await auth.authenticate(res.access_token)).roles, ['admin']);

    const issued = local.audit.ofType('token.issued').at(-1);
    assert.equal(issued?.actor, 'saml:corp');
    assert.equal(issued?.data.method, 'saml');
    assert.ok(!JSON.stringify(local.audit.events).includes(res.access_token));
  });

  it('accepts a response signed as a whole (assertion unsigned)', async () => {
    const res = await exchange.exchange(await idp.loginResponse({ nameId: 'bob@example.com', sign: 'response' }));
    assert.equal(res.identity.subject, 'bob@example.com');
    assert.deepEqual(res.identity.groups, []);
  });

  it('rejects a response whose NameID was changed after signing', async () => {
    for (const sign of ['assertion', 'response'] as const) {
      const tampered = edit(await idp.loginResponse({ nameId: 'alice@example.com', sign }), 'alice@example.com', 'mallory@example.com');
      await rejectsWith(exchange.exchange(tampered), 'PCS_AUTH_SAML_INVALID', 'Invalid signature');
    }
  });

  it('rejects a response with its signature removed', async () => {
    const xml = Buffer.from(await idp.loginResponse(), 'base64').toString('utf8');
    const unsigned = xml.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '');
    assert.notEqual(unsigned, xml);
    await rejectsWith(exchange.exchange(Buffer.from(unsigned).toString('base64')), 'PCS_AUTH_SAML_INVALID', 'Invalid signature');
  });

  it('rejects a response signed by another key that claims a configured issuer', async () => {
    const impostor = startSamlIdp(IDP_ENTITY, makeCertificate('impostor'));
    await rejectsWith(exchange.exchange(await impostor.loginResponse()), 'PCS_AUTH_SAML_INVALID', 'Invalid signature');
  });

  it('rejects an assertion for another audience', async () => {
    await rejectsWith(exchange.exchange(await idp.loginResponse({ audience: 'some-other-sp' })), 'PCS_AUTH_SAML_INVALID', 'audience mismatch');
  });

  it('rejects an expired assertion and one not valid yet', async () => {
    await rejectsWith(exchange.exchange(await idp.loginResponse({ notBefore: -900, notOnOrAfter: -120 })), 'PCS_AUTH_SAML_INVALID', 'expired');
    await rejectsWith(exchange.exchange(await idp.loginResponse({ notBefore: 600, notOnOrAfter: 900 })), 'PCS_AUTH_SAML_INVALID', 'not yet valid');
  });

  it('rejects a response from an issuer that is not configured', async () => {
    const stranger = startSamlIdp('https://stranger.test/metadata');
    await rejectsWith(exchange.exchange(await stranger.loginResponse()), 'PCS_AUTH_SAML_INVALID', 'unknown issuer https://stranger.test/metadata');
  });

  it('rejects a replay of the same response', async () => {
    const response = await idp.loginResponse({ nameId: 'carol@example.com' });
    await exchange.exchange(response);
    const before = local.audit.ofType('token.issued').length;
    await rejectsWith(exchange.exchange(response), 'PCS_AUTH_SAML_INVALID', 'already used');
    assert.equal(local.audit.ofType('token.issued').length, before, 'no second token');
    const failed = local.audit.ofType('auth.failed').at(-1);
    assert.equal(failed?.data.idp, 'corp');
  });

  it('rejects input that is not a SAML response', async () => {
    await rejectsWith(exchange.exchange(''), 'PCS_AUTH_SAML_INVALID');
    await rejectsWith(exchange.exchange('%%% not base64 %%%'), 'PCS_AUTH_SAML_INVALID', 'not base64');
    await rejectsWith(exchange.exchange(Buffer.from('<notsaml/>').toString('base64')), 'PCS_AUTH_SAML_INVALID');
    await rejectsWith(exchange.exchange(Buffer.from('<a><b></a>').toString('base64')), 'PCS_AUTH_SAML_INVALID');
  });

  it('takes the subject from subject_attribute when configured', async () => {
    const byAttribute = new SamlExchange({ idps: [idpConfig(idp, { subject_attribute: 'groups' })], localIssuer: local.issuer, audit: local.audit, logger });
    const res = await byAttribute.exchange(await idp.loginResponse({ nameId: 'dave@example.com', groups: ['team-x'] }));
    assert.equal(res.identity.subject, 'team-x');
    await rejectsWith(byAttribute.exchange(await idp.loginResponse({ nameId: 'dave@example.com' })), 'PCS_AUTH_SAML_INVALID', 'no groups attribute');
  });
});
