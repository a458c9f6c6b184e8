// The HTTP executor: a request of an in-process caller (an MCP tool call) is sent with Node's
// own HTTP client over an in-memory pair into the listener's own request handling (routing,
// integrity checks, decision, review, credential injection, masking, recording), with the
// caller's identity attached instead of a bearer token. What comes back is the upstream's
// (masked) answer, or the gateway's own answer reported as a refusal or a failure.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../../core/errors.ts';
import { sharedRecording, type Executed, type ExecutionScope, type HttpCall, type HttpExecutor, type HttpRun } from '../../pipeline/executor.ts';
import { duplexPair } from '../../util/duplex-pair.ts';
import type { HttpConnection } from './router.ts';
import type { HttpListener } from './server.ts';

/** Headers the caller may not set: the gateway owns routing, framing and the agent's identity. */
const CALLER_MAY_NOT_SET = /^(host|content-length|transfer-encoding|connection|upgrade|authorization|proxy-authorization|te|trailer|keep-alive)$/i;

export class HttpRequestExecutor implements HttpExecutor {
  readonly #listener: HttpListener;
  readonly #connections: ReadonlyMap<string, HttpConnection>;

  constructor(listener: HttpListener, connections: readonly HttpConnection[]) {
    this.#listener = listener;
    this.#connections = new Map(connections.map((c) => [c.name, c]));
  }

  request(scope: ExecutionScope, name: string, call: HttpCall, opts: { readonly maxBody: number; readonly signal?: AbortSignal }): Promise<Executed<HttpRun>> {
    const connection = this.#connections.get(name);
    if (connection === undefined) return Promise.reject(new GatewayError('PCS_CONNECTION_UNKNOWN', { connection: name }));
    if (!call.path.startsWith('/')) return Promise.resolve({ outcome: 'failed', error: { code: 'PCS_HTTP_BAD_REQUEST', message: `the path must start with "/", got "${call.path.slice(0, 100)}"` } });
    const prefix = (connection.prefix ?? `/${connection.name}`).replace(/\/+$/, '');
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(call.headers ?? {})) if (!CALLER_MAY_NOT_SET.test(key)) headers[key] = value;
    // A name no connection claims as its host: the request routes by the connection's prefix.
    headers.host = 'executor.portcullis.invalid';
    const body = call.body === undefined ? undefined : Buffer.from(call.body, 'utf8');
    if (body !== undefined) headers['content-length'] = String(body.length);

    return new Promise((resolve, reject) => {
      let answered: { err: GatewayError; reviewId: string | undefined } | undefined;
      const [ours, theirs] = duplexPair();
      // One in-memory connection per call: its end is not an event worth recording.
      this.#listener.attach(theirs, scope.identity, sharedRecording(scope.recording, null), (err, reviewId) => (answered ??= { err, reviewId }));
      // Node takes any Duplex from createConnection; its types say Socket.
      const req = httpRequest({ method: call.method.toUpperCase(), path: `${prefix}${call.path}`, headers, createConnection: () => ours as never });
      const onAbort = (): void => {
        req.destroy();
        ours.destroy();
        reject(new GatewayError('PCS_EXECUTOR_CLOSED', { protocol: 'http' }));
      };
      if (opts.signal?.aborted === true) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (value: Executed<HttpRun>): void => {
        opts.signal?.removeEventListener('abort', onAbort);
        ours.destroy();
        resolve(value);
      };
      req.on('error', (err) => {
        opts.signal?.removeEventListener('abort', onAbort);
        ours.destroy();
        reject(err);
      });
      req.on('response', (res) => {
        const parts: Buffer[] = [];
        let kept = 0;
        let truncated = false;
        res.on('data', (chunk: Buffer) => {
          const room = opts.maxBody - kept;
          if (chunk.length > room) truncated = true;
          if (room <= 0) return;
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
          parts.push(part);
          kept += part.length;
        });
        res.on('end', () => {
          if (answered !== undefined) {
            const { err, reviewId } = answered;
            if (err.status >= 500) return settle({ outcome: 'failed', error: { code: err.code, message: err.message } });
            return settle({ outcome: 'refused', refusal: { code: err.code, message: err.message, ...(reviewId !== undefined ? { reviewId } : {}) } });
          }
          settle({ outcome: 'done', value: { status: res.statusCode ?? 0, headers: flatten(res.headers), body: Buffer.concat(parts).toString('utf8'), truncated } });
        });
        res.on('error', (err) => req.emit('error', err));
      });
      req.end(body);
    });
  }
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) if (value !== undefined) out[key] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}
