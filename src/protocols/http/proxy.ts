// One allowed request to the upstream and its answer back to the agent: the agent's
// credentials out, the connection's in, hop-by-hop headers dropped, and the response body
// relayed as a stream, through the maskers its content type needs. A JSON document is the
// one thing buffered (a path like `$..email` needs the whole of it), up to a limit.
import type { Permit } from '../../pipeline/permit.ts';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { Agent, request, type Dispatcher } from 'undici';
import { readFileSync } from 'node:fs';
import { GatewayError } from '../../core/errors.ts';
import type { MaskPlan } from '../../masking/plan.ts';
import { CredentialUnavailable, upstreamCredential, type UpstreamCredential } from './credentials.ts';
import { bodyKind, maskJson, ndjsonMasker, needsMasking, sseMasker, textMasker, type StreamMasker } from '../../masking/body.ts';
import type { HttpConnection } from './router.ts';

/** Never forwarded in either direction (RFC 9110 §7.6.1), plus what the gateway owns. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'host', 'content-length']);
/** Agent headers that carry its own credentials to the gateway: never to the upstream. */
const AGENT_CREDENTIALS = new Set(['authorization', 'cookie']);
/** An upstream's cookies are credentials to it: the agent does not get them. */
const DROPPED_RESPONSE = new Set(['set-cookie', 'set-cookie2']);
const MAX_STREAM_LINE = 1024 * 1024;

export interface ProxyResult {
  readonly status: number;
  readonly responseBytes: number;
  /** What the agent received, up to the recording limit (masked). */
  readonly recordedBody: Buffer | null;
  readonly masking: { readonly maskedPaths: readonly string[]; readonly detectorHits: number; readonly changed: boolean } | null;
}

export class Upstream {
  readonly #connection: HttpConnection;
  readonly #base: URL;
  readonly #dispatcher: Dispatcher;
  readonly #credential: UpstreamCredential;
  inFlight = 0;

  constructor(connection: HttpConnection, secret: string | undefined) {
    this.#connection = connection;
    this.#base = new URL(connection.upstream.url);
    const ca = connection.upstream.ca === undefined ? undefined : readFileSync(connection.upstream.ca, 'utf8');
    this.#dispatcher = new Agent({ connect: { ...(ca !== undefined ? { ca } : {}), timeout: 10_000 }, headersTimeout: connection.timeout * 1000, bodyTimeout: connection.timeout * 1000 });
    this.#credential = upstreamCredential(connection, secret, ca !== undefined ? { ca } : {});
  }

  close(): Promise<void> {
    return this.#dispatcher.close();
  }

  /** The upstream URL for a path below the connection's prefix (and the agent's query). */
  url(path: string, search: string): URL {
    const basePath = this.#base.pathname.replace(/\/+$/, '');
    const url = new URL(this.#base.origin);
    url.pathname = `${basePath}${path}`;
    url.search = search;
    return url;
  }

  /** Sends a decided request upstream; only the gate or an approved review gives the permit. */
  /** `committed`: the commit of the request's records (pipeline/durability.ts); the answer waits for it. */
  async forward(permit: Permit, method: string, path: string, search: string, agentHeaders: IncomingHttpHeaders, body: Buffer, res: ServerResponse, plan: MaskPlan | undefined, recordLimit: number, committed?: Promise<void>): Promise<ProxyResult> {
    void permit;
    const name = this.#connection.name;
    const url = this.url(path, search);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(agentHeaders)) {
      if (v === undefined || HOP_BY_HOP.has(k) || AGENT_CREDENTIALS.has(k)) continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const masking = plan !== undefined && needsMasking(plan) ? plan : undefined;
    // A compressed body cannot be masked: ask for it plain.
    if (masking !== undefined) headers['accept-encoding'] = 'identity';
    try {
      await this.#credential.apply(headers, url);
    } catch (err) {
      if (err instanceof CredentialUnavailable) throw new GatewayError('PCS_HTTP_CREDENTIAL_UNAVAILABLE', { connection: name, reason: err.message }, { cause: err });
      throw err;
    }
    let answer: Dispatcher.ResponseData<unknown>;
    try {
      answer = await request(url, { method: method as Dispatcher.HttpMethod, headers, body: body.length > 0 || !['GET', 'HEAD'].includes(method) ? body : null, dispatcher: this.#dispatcher, maxRedirections: 0 } as Parameters<typeof request>[1]);
    } catch (err) {
      throw upstreamError(err, name, this.#connection.timeout);
    }
    // A token the upstream no longer takes: drop it so the next request fetches a new one.
    if (answer.statusCode === 401) this.#credential.invalidate();
    // The durability rule: nothing of the answer leaves before the request's decision is committed.
    if (committed !== undefined) await committed;

    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(answer.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || DROPPED_RESPONSE.has(k)) continue;
      out[k] = v;
    }
    const contentType = typeof answer.headers['content-type'] === 'string' ? answer.headers['content-type'] : undefined;
    const kind = masking === undefined ? 'binary' : bodyKind(contentType);
    const encoding = answer.headers['content-encoding'];
    if (masking !== undefined && kind !== 'binary' && encoding !== undefined && encoding !== 'identity') {
      await answer.body.dump();
      throw new GatewayError('PCS_HTTP_UNMASKABLE', { connection: name, reason: `the upstream sent it ${String(encoding)}-encoded` });
    }
    const recorder = new BodyRecorder(recordLimit);

    if (masking === undefined || kind === 'binary' || method === 'HEAD') {
      const length = answer.headers['content-length'];
      if (typeof length === 'string') out['content-length'] = length;
      res.writeHead(answer.statusCode, out);
      const bytes = await pipeBody(answer.body, res, (chunk) => [chunk], recorder);
      return { status: answer.statusCode, responseBytes: bytes, recordedBody: recorder.body(), masking: null };
    }

    if (kind === 'json') {
      const whole = await readAll(answer.body, this.#connection.max_masked_body);
      if (whole === undefined) throw new GatewayError('PCS_HTTP_UNMASKABLE', { connection: name, reason: `a JSON body larger than ${this.#connection.max_masked_body} bytes` });
      const masked = maskJson(whole, masking);
      out['content-length'] = String(masked.body.length);
      res.writeHead(answer.statusCode, out);
      res.end(masked.body);
      recorder.add(masked.body);
      return { status: answer.statusCode, responseBytes: masked.body.length, recordedBody: recorder.body(), masking: { maskedPaths: masked.maskedPaths, detectorHits: masked.detectorHits, changed: masked.changed } };
    }

    const streamer: StreamMasker = kind === 'ndjson' ? ndjsonMasker(masking, MAX_STREAM_LINE) : kind === 'sse' ? sseMasker(masking, MAX_STREAM_LINE) : textMasker(masking, MAX_STREAM_LINE);
    res.writeHead(answer.statusCode, out);
    // Streams go out as they come (SSE must not wait): one masked piece per upstream chunk.
    res.flushHeaders();
    const bytes = await pipeBody(answer.body, res, (chunk) => streamer.push(chunk), recorder, () => streamer.end());
    return { status: answer.statusCode, responseBytes: bytes, recordedBody: recorder.body(), masking: { maskedPaths: streamer.stats.maskedPaths, detectorHits: streamer.stats.detectorHits, changed: streamer.stats.changed > 0 } };
  }
}

/** Keeps the first `limit` bytes of what went to the agent. */
class BodyRecorder {
  readonly #limit: number;
  readonly #parts: Buffer[] = [];
  #size = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  add(chunk: Buffer): void {
    if (this.#size >= this.#limit) return;
    const part = chunk.subarray(0, this.#limit - this.#size);
    this.#parts.push(part);
    this.#size += part.length;
  }

  body(): Buffer | null {
    return this.#limit === 0 ? null : Buffer.concat(this.#parts);
  }
}

async function pipeBody(source: AsyncIterable<Buffer>, res: ServerResponse, transform: (chunk: Buffer) => Buffer[], recorder: BodyRecorder, finish?: () => Buffer[]): Promise<number> {
  let bytes = 0;
  const send = async (piece: Buffer): Promise<void> => {
    if (piece.length === 0) return;
    bytes += piece.length;
    recorder.add(piece);
    // Backpressure: a slow agent slows the upstream read, nothing piles up here.
    if (!res.write(piece)) await new Promise<void>((resolve) => res.once('drain', resolve));
  };
  for await (const chunk of source) {
    if (res.destroyed) break;
    for (const piece of transform(chunk)) await send(piece);
  }
  for (const piece of finish?.() ?? []) await send(piece);
  res.end();
  return bytes;
}

async function readAll(source: Dispatcher.ResponseData['body'], limit: number): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      source.destroy();
      return undefined;
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

function upstreamError(err: unknown, connection: string, timeoutSeconds: number): GatewayError {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return new GatewayError('PCS_HTTP_UPSTREAM_TIMEOUT', { connection, seconds: timeoutSeconds }, { cause: err });
  const cause = (err as { cause?: { code?: string } }).cause?.code ?? code;
  return new GatewayError('PCS_HTTP_UPSTREAM_UNREACHABLE', { connection, cause: cause === 'ECONNREFUSED' ? 'connection refused' : cause || 'connection failed' }, { cause: err });
}

