// A real SAML IdP in-process: samlify signs IdP-initiated login responses with a key pair and
// self-signed certificate made by openssl for the test run.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as xmllint from '@authenio/samlify-node-xmllint';
// The default export: samlify is CommonJS and some of its exports are getters ESM cannot name.
import samlify from 'samlify';
import { tempDir } from '../../support/tmp.ts';

samlify.setSchemaValidator(xmllint);

const POST = samlify.Constants.namespace.binding.post;
export const ACS_URL = 'https://gateway.test/saml/acs';

export interface KeyPair {
  readonly key: string;
  readonly cert: string;
}

/** RSA key and self-signed certificate from openssl (no crypto of our own). */
export function makeCertificate(cn: string): KeyPair {
  const dir = tempDir('pcs-saml-');
  const key = join(dir, 'idp.key');
  const cert = join(dir, 'idp.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

export interface LoginResponseOptions {
  nameId?: string;
  groups?: readonly string[];
  /** The Audience the assertion names; the SP's entity id by default. */
  audience?: string;
  /** Validity window relative to now, in seconds. */
  notBefore?: number;
  notOnOrAfter?: number;
  /** Sign the assertion (default) or only the whole response. */
  sign?: 'assertion' | 'response';
}

export interface TestSamlIdp {
  readonly entityId: string;
  readonly cert: string;
  loginResponse(opts?: LoginResponseOptions): Promise<string>;
}

const iso = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toISOString();

function attributeStatement(groups: readonly string[]): string {
  if (groups.length === 0) return '';
  // Test group names are plain words; values go through samlify's escaping anyway via tags.
  const values = groups.map((_, i) => `<saml:AttributeValue xsi:type="xs:string">{Group${i}}</saml:AttributeValue>`).join('');
  return `<saml:AttributeStatement><saml:Attribute Name="groups" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values}</saml:Attribute></saml:AttributeStatement>`;
}

export function startSamlIdp(entityId: string, keys: KeyPair = makeCertificate('test-idp')): TestSamlIdp {
  const idp = samlify.IdentityProvider({
    entityID: entityId,
    privateKey: keys.key,
    signingCert: keys.cert,
    nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
    singleSignOnService: [{ Binding: POST, Location: 'https://idp.test/sso' }],
    singleLogoutService: [{ Binding: POST, Location: 'https://idp.test/slo' }],
  });

  return {
    entityId,
    cert: keys.cert,
    async loginResponse(opts = {}) {
      const sp = samlify.ServiceProvider({
        entityID: opts.audience ?? 'portcullis',
        assertionConsumerService: [{ Binding: POST, Location: ACS_URL }],
        wantAssertionsSigned: (opts.sign ?? 'assertion') === 'assertion',
      });
      const groups = opts.groups ?? [];
      const id = `_${randomUUID()}`;
      const values: Record<string, string | undefined> = {
        ID: id,
        AssertionID: `_${randomUUID()}`,
        Destination: ACS_URL,
        Audience: opts.audience ?? 'portcullis',
        SubjectRecipient: ACS_URL,
        Issuer: entityId,
        IssueInstant: iso(0),
        StatusCode: samlify.Constants.StatusCode.Success,
        ConditionsNotBefore: iso(opts.notBefore ?? -5),
        ConditionsNotOnOrAfter: iso(opts.notOnOrAfter ?? 300),
        SubjectConfirmationDataNotOnOrAfter: iso(opts.notOnOrAfter ?? 300),
        NameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
        NameID: opts.nameId ?? 'alice@example.com',
        // IdP-initiated: no request to answer, so no InResponseTo (undefined drops the attribute).
        InResponseTo: undefined,
        AuthnStatement: '',
        ...Object.fromEntries(groups.map((g, i) => [`Group${i}`, g])),
      };
      const { context } = await idp.createLoginResponse(sp, { extract: {} }, 'post', {}, {
        customTagReplacement: (template: string) => ({
          id,
          context: samlify.SamlLib.replaceTagsByValue(template.replace('{AttributeStatement}', attributeStatement(groups)), values),
        }),
      });
      return context;
    },
  };
}
