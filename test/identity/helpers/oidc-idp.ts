// A real OpenID Provider (oidc-provider) in-process on 127.0.0.1, issuing JWT access tokens by
// client credentials. One HTTP server stays up while `setKeys` swaps in a provider instance with
// another key set (key rotation at the IdP); requests to the JWKS endpoint are counted.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import Provider, { errors } from 'oidc-provider';
import { testSecret } from '../../support/secrets.ts';

export const CLIENT_SECRET = testSecret('oidc-client-secret');
/** Resource indicators the provider knows, and the `aud` of the tokens it issues for them. */
export const RESOURCE = 'urn:portcullis';
export const SHORT_RESOURCE = 'urn:portcullis:short';
export const OTHER_RESOURCE = 'urn:other-api';
export const AUDIENCE = RESOURCE;

/** What the provider puts in tokens per client (extraTokenClaims): the client id is the subject. */
export const CLIENTS: Readonly<Record<string, { groups: string[]; roles: string[] }>> = {
  'ci-agent': { groups: ['developers', 'oncall'], roles: ['deployer'] },
  'ops-admin': { groups: ['admins'], roles: [] },
};

export interface IdpKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

export async function makeKey(kid: string): Promise<IdpKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    kid,
    privateKey,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

function buildProvider(issuer: string, keys: readonly IdpKey[]): Provider {
  return new Provider(issuer, {
    clients: Object.keys(CLIENTS).map((client_id) => ({
      client_id,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    })),
    // The first key signs; the others are only published (the state after a rotation).
    jwks: { keys: keys.map((k) => ({ ...k.privateJwk })) },
    // The resource server's own TTL (300 s, or 1 s for SHORT_RESOURCE) decides.
    ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 300 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          const sign = { alg: 'RS256', kid: keys[0]?.kid };
          if (resource === RESOURCE) return { scope: 'api', audience: AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign } };
          if (resource === SHORT_RESOURCE) return { scope: 'api', audience: AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: 1, jwt: { sign } };
          if (resource === OTHER_RESOURCE) return { scope: 'api', audience: OTHER_RESOURCE, accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign } };
          throw new errors.InvalidTarget();
        },
      },
    },
    extraTokenClaims: (_ctx, token) => {
      const clientId = 'clientId' in token && typeof token.clientId === 'string' ? token.clientId : '';
      return CLIENTS[clientId] ?? {};
    },
  });
}

export interface TestIdp {
  readonly issuer: string;
  readonly port: number;
  /** Requests to the JWKS endpoint so far. */
  readonly jwksRequests: number;
  setKeys(keys: readonly IdpKey[]): void;
  token(opts?: { client?: string; resource?: string }): Promise<string>;
  close(): Promise<void>;
}

/** Start the IdP; with `port` it listens there (to bring a "down" IdP back on the same URL). */
export async function startIdp(keys: readonly IdpKey[], port = 0): Promise<TestIdp> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let jwksRequests = 0;
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/jwks')) jwksRequests += 1;
    if (handler) handler(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${actualPort}`;
  const setKeys = (next: readonly IdpKey[]): void => {
    handler = buildProvider(issuer, next).callback();
  };
  setKeys(keys);

  return {
    issuer,
    port: actualPort,
    get jwksRequests() {
      return jwksRequests;
    },
    setKeys,
    async token(opts = {}) {
      const client = opts.client ?? 'ci-agent';
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${client}:${CLIENT_SECRET}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api', resource: opts.resource ?? RESOURCE }),
      });
      const body = (await res.json()) as { access_token?: string; error?: string };
      if (!res.ok || !body.access_token) throw new Error(`token endpoint answered ${res.status} ${body.error ?? ''}`);
      return body.access_token;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
