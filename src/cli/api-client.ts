// A small client of the admin API for the commands that act as a person rather than as the
// gateway's operator (reviews, access): they need the caller's identity, which only a token
// carries, so they go through the API instead of opening the store.
//
// The token comes only from PORTCULLIS_TOKEN: a flag would land in shell history and in `ps`.
// Nothing here ever prints it, and a redirect is refused so it is never sent to another host.
import { EXIT, CliExit, loadOrExit } from './context.ts';

export const TOKEN_ENV = 'PORTCULLIS_TOKEN';
export const API_ENV = 'PORTCULLIS_API';
const TIMEOUT_MS = 15_000;

export const apiOption = ['--api <url>', `admin API base URL (default: $${API_ENV}, else http://<listen.api> of the configuration)`] as const;

export interface ApiTarget {
  readonly api?: string;
  readonly config?: string;
}

/** Print one line and leave with this exit code (reportError passes CliExit through silently). */
export function fail(code: number, message: string): never {
  process.stderr.write(`portcullis: ${message}\n`);
  throw new CliExit(code);
}

/** A wildcard listen address is reachable on loopback. */
function connectHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '[::]') return '[::1]';
  return host;
}

/** --api, else PORTCULLIS_API, else the configuration's listen.api. */
export function resolveBaseUrl(target: ApiTarget, env: NodeJS.ProcessEnv = process.env): URL {
  const given = target.api ?? (env[API_ENV] || undefined);
  let text: string;
  if (given !== undefined) {
    text = given;
  } else {
    let listen: string;
    try {
      listen = loadOrExit(target.config).config.listen.api;
    } catch (err) {
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      fail(EXIT.config, `cannot tell where the admin API is: pass --api URL or set ${API_ENV}, or fix the configuration (${why})`);
    }
    text = `http://${connectHost(listen.slice(0, listen.lastIndexOf(':')))}:${listen.slice(listen.lastIndexOf(':') + 1)}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(EXIT.usage, `admin API URL ${JSON.stringify(text)} is not a URL; expected e.g. http://127.0.0.1:8700`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(EXIT.usage, `admin API URL ${url.origin}: expected http:// or https://`);
  return url;
}

/** What a URL looks like in a message: never any user:password part. */
const shown = (url: URL): string => `${url.origin}${url.pathname.replace(/\/+$/, '')}`;

interface Problem {
  code?: unknown;
  detail?: unknown;
  title?: unknown;
}

export class ApiClient {
  readonly #base: URL;
  readonly #token: string;

  constructor(base: URL, token: string) {
    this.#base = base;
    this.#token = token;
  }

  get base(): string {
    return shown(this.#base);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(this.#base.pathname.replace(/\/+$/, '') + path, this.#base);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.#token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        redirect: 'error',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) fail(EXIT.failure, `the admin API at ${this.base} did not answer within ${TIMEOUT_MS / 1000} s`);
      // undici reports the socket's reason (ECONNREFUSED, ENOTFOUND...) as the cause.
      const cause = err instanceof Error && err.cause instanceof Error ? ((err.cause as NodeJS.ErrnoException).code ?? err.cause.message) : err instanceof Error ? err.message : String(err);
      return fail(EXIT.failure, `cannot reach the admin API at ${this.base} (${cause}); is the gateway running? Set --api or ${API_ENV} to its address`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const p = (json ?? {}) as Problem;
      if (typeof p.code === 'string') fail(EXIT.failure, `${p.code}: ${typeof p.detail === 'string' ? p.detail : typeof p.title === 'string' ? p.title : `HTTP ${res.status}`}`);
      return fail(EXIT.failure, `the admin API at ${this.base} answered ${method} ${path.split('?')[0]} with HTTP ${res.status}${text ? `: ${text.slice(0, 200).replace(/\s+/g, ' ')}` : ''}`);
    }
    if (json === undefined) fail(EXIT.failure, `the admin API at ${this.base} answered ${method} ${path.split('?')[0]} with something that is not JSON; is ${this.base} the admin API?`);
    return json as T;
  }
}

/** The client for this command's options; a missing token is a usage error, checked first. */
export function apiClient(target: ApiTarget, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const token = env[TOKEN_ENV]?.trim();
  if (!token) {
    fail(EXIT.usage, `no token: set ${TOKEN_ENV} to your gateway token or OIDC JWT, e.g. export ${TOKEN_ENV}=$(portcullis token issue --subject alice --group dba). It is read only from the environment, never from a flag, so it stays out of shell history and ps`);
  }
  return new ApiClient(resolveBaseUrl(target, env), token);
}
