// Finds an issuer's jwks_uri through OpenID Connect discovery, lazily (the gateway starts while
// an IdP is down) and once: concurrent callers share the request, a success is kept, a
// failure is retried only after a backoff so a dead IdP costs each request nothing.
import { allowInsecureRequests, discovery, type DiscoveryRequestOptions } from 'openid-client';
import type { Logger } from '../telemetry/logger.ts';
import { Backoff } from './backoff.ts';
import { IdpUnreachableError } from './jose-errors.ts';
import { checkedUrl, isLoopbackHttp } from './urls.ts';

/** openid-client's request timeout, in seconds: a black-holed IdP must not hold requests long. */
export const DISCOVERY_TIMEOUT_S = 3;
/** Discovery needs a client id; we only read metadata, so any stable name does. */
const CLIENT_ID = 'portcullis-gateway';

export class JwksUriResolver {
  readonly #issuer: URL;
  readonly #logger: Logger;
  readonly #backoff = new Backoff();
  #found: URL | undefined;
  #pending: Promise<URL> | undefined;

  constructor(issuer: URL, logger: Logger) {
    this.#issuer = issuer;
    this.#logger = logger;
  }

  resolve(): Promise<URL> {
    if (this.#found) return Promise.resolve(this.#found);
    if (this.#backoff.waiting) return Promise.reject(new IdpUnreachableError(this.#issuer.href));
    this.#pending ??= this.#discover().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #discover(): Promise<URL> {
    const options: DiscoveryRequestOptions = { timeout: DISCOVERY_TIMEOUT_S };
    if (isLoopbackHttp(this.#issuer)) options.execute = [allowInsecureRequests];
    try {
      const config = await discovery(this.#issuer, CLIENT_ID, undefined, undefined, options);
      const jwksUri = config.serverMetadata().jwks_uri;
      if (!jwksUri) throw new Error('the discovery document has no jwks_uri');
      this.#found = checkedUrl(jwksUri, `jwks_uri discovered for ${this.#issuer.href}`);
      this.#backoff.succeeded();
      return this.#found;
    } catch (err) {
      this.#backoff.failed();
      this.#logger.warn({ issuer: this.#issuer.href, err: err instanceof Error ? err.message : String(err) }, 'OIDC discovery failed');
      throw new IdpUnreachableError(this.#issuer.href, { cause: err });
    }
  }
}
