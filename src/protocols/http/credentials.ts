// The credential an HTTP connection presents to its upstream: a static token, Basic, a custom
// header, a query parameter, or an OAuth2 access token obtained by client credentials
// (RFC 6749 §4.4) and cached until shortly before it expires.
//
// The caller removes the agent's own `authorization` header before `apply` (it carries the
// agent's gateway identity, never meant for the upstream); `apply` removes it again whenever
// the connection has an upstream credential, and overwrites it for bearer, basic and oauth2.
import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';
import type { ConnectionConfig } from '../../config/schema.ts';
import { isLoopbackHttp } from '../../identity/urls.ts';

export type HttpConnectionConfig = Extract<ConnectionConfig, { type: 'http' }>;
type AuthConfig = NonNullable<HttpConnectionConfig['upstream']['auth']>;
type OAuth2Config = Extract<AuthConfig, { type: 'oauth2' }>;

export interface UpstreamCredential {
  /** Mutates the outgoing request: sets headers (authorization, a custom header) and/or query parameters on `url`. Async because OAuth2 may need a token. */
  apply(headers: Record<string, string>, url: URL): Promise<void>;
  /** Drop a cached OAuth2 token (the upstream answered 401 with it). */
  invalidate(): void;
}

export type CredentialProblem = 'invalid_config' | 'no_secret' | 'refused' | 'unreachable' | 'invalid_response';

/**
 * The upstream credential cannot be used. The message names the connection (and the token
 * endpoint) and is safe to show to the agent: it never carries a secret or a token.
 */
export class CredentialUnavailable extends Error {
  readonly connection: string;
  readonly problem: CredentialProblem;

  constructor(connection: string, problem: CredentialProblem, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CredentialUnavailable';
    this.connection = connection;
    this.problem = problem;
  }
}

export interface UpstreamCredentialOptions {
  /** Replaces the global fetch for token requests (tests). */
  fetch?: typeof fetch;
  /** Clock in milliseconds, for token expiry. Default Date.now. */
  now?: () => number;
  /** PEM text (not a file name) of a CA trusted for an https token_url, besides the system CAs. */
  ca?: string;
}

const TOKEN_TIMEOUT_MS = 10_000;
/** A token response is a few hundred bytes; anything this large is not one. */
const MAX_TOKEN_RESPONSE = 256 * 1024;
/** Lifetime assumed when the token response has no expires_in (RFC 6749 only recommends it). */
const DEFAULT_LIFETIME_S = 300;

// Names the gateway may not set: the proxy owns them (framing, routing, hop-by-hop), and a
// credential in one of them would be dropped or would corrupt the request.
const RESERVED_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What a header value may hold (RFC 9110 field-vchar, SP, HTAB): CR/LF would split the request. */
const HEADER_SAFE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** RFC 6750 b64token, loosened to any visible ASCII: what a Bearer token may be. */
const TOKEN_SAFE = /^[\x21-\x7e]+$/;

export function upstreamCredential(connection: HttpConnectionConfig, secret: string | undefined, opts: UpstreamCredentialOptions = {}): UpstreamCredential {
  const name = connection.name;
  const auth = connection.upstream.auth;
  if (auth === undefined) return { apply: () => Promise.resolve(), invalidate: () => undefined };

  const invalid = (what: string): CredentialUnavailable => new CredentialUnavailable(name, 'invalid_config', `connection ${name}: ${what}`);
  // A missing or unusable secret is reported per request rather than at construction, so a
  // connection whose credential is not set yet only fails when used.
  const secretProblem = (header: boolean): CredentialUnavailable | undefined => {
    if (secret === undefined || secret === '') return new CredentialUnavailable(name, 'no_secret', `connection ${name} has no upstream credential; set one with \`portcullis credential set ${name}\``);
    if (header && !HEADER_SAFE.test(secret)) return new CredentialUnavailable(name, 'invalid_config', `the upstream credential of connection ${name} contains characters that cannot be sent in a header (control or non-Latin-1)`);
    return undefined;
  };
  const fixed = (set: (headers: Record<string, string>, url: URL, secret: string) => void, header: boolean): UpstreamCredential => {
    const problem = secretProblem(header);
    return {
      apply(headers, url) {
        if (problem !== undefined) return Promise.reject(problem);
        removeHeader(headers, 'authorization');
        set(headers, url, secret as string);
        return Promise.resolve();
      },
      invalidate: () => undefined,
    };
  };

  switch (auth.type) {
    case 'bearer':
      return fixed((headers, _url, token) => {
        headers.authorization = `Bearer ${token}`;
      }, true);
    case 'basic':
      // RFC 7617: the user-id cannot contain a colon, the password can.
      if (auth.username.includes(':')) throw invalid('upstream.auth.username cannot contain ":" (HTTP Basic splits on the first colon)');
      if ([...auth.username].some((c) => c < ' ' || c === '\x7f')) throw invalid('upstream.auth.username contains control characters');
      return fixed((headers, _url, password) => {
        headers.authorization = `Basic ${Buffer.from(`${auth.username}:${password}`, 'utf8').toString('base64')}`;
      }, false);
    case 'header': {
      const header = auth.header.toLowerCase();
      if (!HEADER_NAME.test(header)) throw invalid(`upstream.auth.header ${JSON.stringify(auth.header)} is not a valid header name`);
      if (RESERVED_HEADERS.has(header)) throw invalid(`upstream.auth.header ${auth.header} is a hop-by-hop or framing header the gateway cannot use for a credential`);
      return fixed((headers, _url, value) => {
        removeHeader(headers, header);
        headers[header] = value;
      }, true);
    }
    case 'query':
      if (auth.param === '') throw invalid('upstream.auth.param is empty');
      return fixed((_headers, url, value) => setQueryParam(url, auth.param, value), false);
    case 'oauth2':
      return new OAuth2Credential(name, auth, secret, opts, secretProblem(false));
  }
}

/** Delete every spelling of a header name: a record built by hand may hold `Authorization`. */
function removeHeader(headers: Record<string, string>, lowerName: string): void {
  for (const k of Object.keys(headers)) if (k.toLowerCase() === lowerName) delete headers[k];
}

/**
 * Replace every occurrence of `name` in the query with our value, keeping the agent's other
 * parameters byte for byte (URLSearchParams.set would re-encode all of them, which can break
 * signed URLs). Names are compared decoded, so `api%5Fkey` cannot smuggle a second value.
 */
function setQueryParam(url: URL, name: string, value: string): void {
  const kept = url.search
    .slice(1)
    .split('&')
    .filter((pair) => pair !== '' && [...new URLSearchParams(pair).keys()][0] !== name);
  kept.push(new URLSearchParams([[name, value]]).toString());
  url.search = kept.join('&');
}

/** RFC 6749 §2.3.1: client_secret_basic form-urlencodes id and secret before base64. */
function formEncode(text: string): string {
  return new URLSearchParams([['', text]]).toString().slice(1);
}

interface CachedToken {
  readonly value: string;
  /** Clock time (ms) from which a new token is fetched. */
  readonly refreshAt: number;
}

class OAuth2Credential implements UpstreamCredential {
  readonly #name: string;
  readonly #config: OAuth2Config;
  readonly #tokenUrl: URL;
  /** Where the endpoint is shown in errors: no userinfo, no query. */
  readonly #endpoint: string;
  readonly #clientAuth: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #dispatcher: Agent | undefined;
  readonly #problem: CredentialUnavailable | undefined;
  #token: CachedToken | undefined;
  #pending: Promise<string> | undefined;

  constructor(name: string, config: OAuth2Config, secret: string | undefined, opts: UpstreamCredentialOptions, problem: CredentialUnavailable | undefined) {
    this.#name = name;
    this.#config = config;
    this.#tokenUrl = new URL(config.token_url);
    this.#endpoint = `${this.#tokenUrl.origin}${this.#tokenUrl.pathname}`;
    // The client secret travels in this request: plain http only where nobody is on the path.
    if (this.#tokenUrl.protocol !== 'https:' && !isLoopbackHttp(this.#tokenUrl)) {
      throw new CredentialUnavailable(name, 'invalid_config', `connection ${name}: upstream.auth.token_url ${this.#endpoint} must use https (plain http is allowed only for loopback hosts)`);
    }
    if (config.client_id.includes('\n') || config.client_id === '') throw new CredentialUnavailable(name, 'invalid_config', `connection ${name}: upstream.auth.client_id is empty or has a line break`);
    this.#problem = problem;
    this.#clientAuth = `Basic ${Buffer.from(`${formEncode(config.client_id)}:${formEncode(secret ?? '')}`, 'utf8').toString('base64')}`;
    this.#fetch = opts.fetch ?? fetch;
    this.#now = opts.now ?? Date.now;
    // Additive: the operator's CA (usually the upstream's) does not make public IdPs untrusted.
    this.#dispatcher = opts.ca !== undefined && this.#tokenUrl.protocol === 'https:' ? new Agent({ connect: { ca: [...rootCertificates, opts.ca] } }) : undefined;
  }

  async apply(headers: Record<string, string>, _url: URL): Promise<void> {
    const token = await this.#current();
    removeHeader(headers, 'authorization');
    headers.authorization = `Bearer ${token}`;
  }

  invalidate(): void {
    // A request in flight is not cancelled: what it brings is newer than the rejected token.
    this.#token = undefined;
  }

  #current(): Promise<string> {
    if (this.#problem !== undefined) return Promise.reject(this.#problem);
    const cached = this.#token;
    if (cached !== undefined && this.#now() < cached.refreshAt) return Promise.resolve(cached.value);
    // Single flight: every apply waiting for a token shares one request to the endpoint.
    this.#pending ??= this.#request()
      .then((token) => {
        this.#token = token;
        return token.value;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  async #request(): Promise<CachedToken> {
    const startedAt = this.#now();
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.#config.scope !== undefined) body.set('scope', this.#config.scope);
    const init: RequestInit & { dispatcher?: Agent } = {
      method: 'POST',
      headers: { authorization: this.#clientAuth, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      // A redirect would carry the client credentials somewhere nobody configured.
      redirect: 'error',
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
      ...(this.#dispatcher !== undefined ? { dispatcher: this.#dispatcher } : {}),
    };
    const send = this.#fetch;
    let res: Response;
    let text: string;
    try {
      res = await send(this.#tokenUrl, init as RequestInit);
      text = await readCapped(res, MAX_TOKEN_RESPONSE);
    } catch (err) {
      throw this.#fail('unreachable', `cannot be reached (${networkCause(err)})`, err);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const fields = json !== null && typeof json === 'object' ? (json as Record<string, unknown>) : {};
    if (!res.ok) {
      // RFC 6749 §5.2 error codes are plain ASCII words; error_description is not shown (free text).
      const code = typeof fields.error === 'string' && /^[\w.-]{1,64}$/.test(fields.error) ? `, ${fields.error}` : '';
      throw this.#fail('refused', `refused the client credentials (HTTP ${res.status}${code})`);
    }
    if (json === undefined) throw this.#fail('invalid_response', 'answered with something other than JSON');
    const token = fields.access_token;
    if (typeof token !== 'string' || token === '') throw this.#fail('invalid_response', 'answered without an access_token');
    if (!TOKEN_SAFE.test(token)) throw this.#fail('invalid_response', 'answered with an access token that cannot be sent in a header');
    const type = fields.token_type;
    // A DPoP or MAC token sent as Bearer would fail, or leak a proof-bound token.
    if (typeof type !== 'string' || type.toLowerCase() !== 'bearer') {
      const shown = typeof type === 'string' && /^[\w.-]{1,32}$/.test(type) ? type : 'none';
      throw this.#fail('invalid_response', `issued a token of type ${shown}, not Bearer`);
    }
    const lifetime = expiresIn(fields.expires_in) ?? DEFAULT_LIFETIME_S;
    // Refresh early (30 s, or 10% of a short lifetime) so a token does not expire in flight.
    const margin = Math.min(30, lifetime * 0.1);
    return { value: token, refreshAt: startedAt + (lifetime - margin) * 1000 };
  }

  #fail(problem: CredentialProblem, what: string, cause?: unknown): CredentialUnavailable {
    return new CredentialUnavailable(this.#name, problem, `the OAuth2 token endpoint ${this.#endpoint} of connection ${this.#name} ${what}`, cause === undefined ? undefined : { cause });
  }
}

function expiresIn(value: unknown): number | undefined {
  // Some servers send it as a string.
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

async function readCapped(res: Response, max: number): Promise<string> {
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new Error('token response too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A short, secret-free reason for a failed token request. */
function networkCause(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${TOKEN_TIMEOUT_MS / 1000} s`;
  if (err instanceof Error && err.message === 'token response too large') return 'response too large';
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  const code = cause?.code ?? (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
  if (err instanceof TypeError && /redirect/i.test(String(err.cause ?? err.message))) return 'it answered with a redirect';
  return 'network error';
}
