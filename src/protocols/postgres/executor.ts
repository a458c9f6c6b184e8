// The PostgreSQL executor: statements of an in-process caller (an MCP tool call) run through
// the listener's own session (PgSession over an in-memory pair), so analysis, decision,
// masking, reviews and recording are the wire's own. This file is only a small frontend: it
// writes Query, or Parse/Bind/Describe/Execute/Sync for parameters, and reads the answers
// into typed result sets.
import type { Duplex } from 'node:stream';
import { GatewayError } from '../../core/errors.ts';
import { sharedRecording, type BackendError, type ExecutionScope, type Executed, type Refusal, type SqlExecutor, type SqlQueryOptions, type SqlResultSet, type SqlRun, type SqlSession, type SqlValue } from '../../pipeline/executor.ts';
import { duplexPair } from '../../util/duplex-pair.ts';
import { readCommandComplete, readMessageFields, readRowDescription, readTextRow, rowsFromTag, type FieldDescription } from './codec/backend-read.ts';
import { Backend, ErrorField } from './codec/constants.ts';
import { FrameReader } from './codec/framing.ts';
import { bindParams, copyFail, describe, execute, parse, query, SYNC, TERMINATE } from './codec/frontend-encode.ts';
import type { PgListener } from './server.ts';
import { typedValue, typeName } from './typed-values.ts';
import { Deferred } from '../../util/deferred.ts';

/** Largest answer message accepted from the session (a DataRow of a wide row included). */
const MAX_ANSWER = 1 << 30;

export class PostgresExecutor implements SqlExecutor {
  readonly #listener: PgListener;

  constructor(listener: PgListener) {
    this.#listener = listener;
  }

  async open(scope: ExecutionScope, connection: string): Promise<SqlSession> {
    const [ours, theirs] = duplexPair();
    const channel = new Channel(ours);
    try {
      await this.#listener.attach(theirs, scope.identity, connection, {
        protocol: scope.protocol,
        ...(scope.clientAddr !== undefined ? { clientAddr: scope.clientAddr } : {}),
        recording: sharedRecording(scope.recording, connection),
        observer: { resultMasks: (masked) => channel.masks.push(masked), held: (notice) => scope.onHeld?.(notice) },
      });
    } catch (err) {
      ours.destroy();
      theirs.destroy();
      throw err;
    }
    await channel.ready();
    return channel;
  }
}

/** A result set being read. */
interface Building {
  readonly fields: readonly FieldDescription[];
  readonly masked: ReadonlySet<number> | undefined;
  readonly rows: SqlValue[][];
  truncated: boolean;
}

/** One call being answered. */
interface Call {
  readonly maxRows: number;
  readonly results: SqlResultSet[];
  readonly notices: string[];
  current: Building | undefined;
  error: Record<number, string> | undefined;
  readonly done: (value: Executed<SqlRun>) => void;
}

class Channel implements SqlSession {
  readonly #stream: Duplex;
  readonly #reader = new FrameReader(MAX_ANSWER);
  /** Masked column indexes of each result description the session sent, in order (SessionObserver). */
  readonly masks: (readonly number[])[] = [];
  /** Calls run one at a time, in order, as on a wire session. */
  #queue: Promise<unknown> = Promise.resolve();
  #call: Call | undefined;
  /** Settled by the first ReadyForQuery, which may come before anyone asks. */
  readonly #ready = new Deferred();
  #startupError: Record<number, string> | undefined;
  #closed = false;

  constructor(stream: Duplex) {
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => {
      this.#reader.push(chunk);
      for (let frame = this.#reader.next(); frame !== null; frame = this.#reader.next()) this.#onFrame(frame);
    });
    // Nobody awaits readiness when the attach itself failed.
    this.#ready.promise.catch(() => undefined);
    stream.on('close', () => this.#gone());
    stream.on('error', () => this.#gone());
  }

  /** Resolves at the session's first ReadyForQuery (after AuthenticationOk and the parameters). */
  ready(): Promise<void> {
    return this.#ready.promise;
  }

  query(sql: string, params: readonly (string | null)[] | undefined, opts: SqlQueryOptions): Promise<Executed<SqlRun>> {
    const run = this.#queue.then(() => this.#run(sql, params, opts));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#queue;
    this.#closed = true;
    await new Promise<void>((resolve) => {
      this.#stream.once('close', () => resolve());
      this.#stream.end(TERMINATE);
    });
  }

  #run(sql: string, params: readonly (string | null)[] | undefined, opts: SqlQueryOptions): Promise<Executed<SqlRun>> {
    if (this.#closed) return Promise.reject(new GatewayError('PCS_EXECUTOR_CLOSED', { protocol: 'postgres' }));
    // A NUL cannot be sent in a message string; PostgreSQL takes none in a statement either.
    if (sql.includes('\0') || params?.some((p) => p?.includes('\0')) === true) {
      return Promise.resolve({ outcome: 'failed', error: { code: '22021', message: 'a statement or parameter contains a NUL character, which PostgreSQL does not accept' } });
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        // The agent went away: the session is closed (a held statement stops waiting, a running one is cancelled by the closed connection).
        this.#stream.destroy();
        reject(new GatewayError('PCS_EXECUTOR_CLOSED', { protocol: 'postgres' }));
      };
      if (opts.signal?.aborted === true) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#call = {
        maxRows: opts.maxRows,
        results: [],
        notices: [],
        current: undefined,
        error: undefined,
        done: (value) => {
          opts.signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
      };
      this.masks.length = 0;
      if (params === undefined) this.#stream.write(query(sql));
      else this.#stream.write(Buffer.concat([parse('', sql), bindParams('', '', params), describe('P', ''), execute(''), SYNC]));
    });
  }

  #onFrame(frame: Buffer): void {
    const call = this.#call;
    const type = frame[0];
    if (call === undefined) {
      if (type === Backend.ReadyForQuery) this.#ready.resolve();
      else if (type === Backend.ErrorResponse) this.#startupError = fieldsOf(frame);
      return;
    }
    switch (type) {
      case Backend.RowDescription: {
        const masked = this.masks.shift();
        // A description the observer said nothing about: every column counts as masked.
        call.current = { fields: readRowDescription(frame), masked: masked === undefined ? undefined : new Set(masked), rows: [], truncated: false };
        break;
      }
      case Backend.CopyOutResponse:
        call.current = { fields: [{ name: 'copy', tableOid: 0, column: 0, typeOid: 25, format: 0 }], masked: undefined, rows: [], truncated: false };
        break;
      case Backend.DataRow:
      case Backend.CopyData: {
        const current = call.current;
        if (current === undefined) break;
        if (current.rows.length >= call.maxRows) {
          current.truncated = true;
          break;
        }
        if (type === Backend.CopyData) current.rows.push([frame.toString('utf8', 5).replace(/\n$/, '')]);
        else {
          const values = readTextRow(frame);
          current.rows.push(values.map((v, i) => typedValue(current.fields[i]?.typeOid ?? 25, v)));
        }
        break;
      }
      case Backend.CommandComplete: {
        const tag = readCommandComplete(frame);
        const current = call.current;
        call.current = undefined;
        const columns = (current?.fields ?? []).map((f, i) => ({ name: f.name, type: typeName(f.typeOid), masked: current?.masked?.has(i) ?? true }));
        call.results.push({ command: tag.split(' ')[0] ?? tag, columns, rows: current?.rows ?? [], rowCount: rowsFromTag(tag), truncated: current?.truncated ?? false });
        break;
      }
      case Backend.CopyInResponse:
        // Nothing to send from a tool call: the server ends the COPY with this error.
        this.#stream.write(copyFail('an executor sends no COPY data'));
        break;
      case Backend.NoticeResponse: {
        const fields = fieldsOf(frame);
        call.notices.push(fields[ErrorField.Message] ?? '');
        break;
      }
      case Backend.ErrorResponse:
        call.error ??= fieldsOf(frame);
        call.current = undefined;
        break;
      case Backend.ReadyForQuery: {
        this.#call = undefined;
        const error = call.error;
        if (error === undefined) call.done({ outcome: 'done', value: { results: call.results, notices: call.notices } });
        else {
          const refusal = refusalOf(error);
          call.done(refusal !== undefined ? { outcome: 'refused', refusal } : { outcome: 'failed', error: backendError(error) });
        }
        break;
      }
      default:
        break;
    }
  }

  #gone(): void {
    if (!this.#ready.settled) {
      const e = this.#startupError;
      this.#ready.reject(e !== undefined ? new GatewayError('PCS_EXECUTOR_FAILED', { protocol: 'postgres', reason: e[ErrorField.Message] ?? 'the session ended' }) : new GatewayError('PCS_EXECUTOR_CLOSED', { protocol: 'postgres' }));
    }
    const call = this.#call;
    this.#call = undefined;
    this.#closed = true;
    call?.done({ outcome: 'failed', error: call.error !== undefined ? backendError(call.error) : { code: 'PCS_EXECUTOR_CLOSED', message: 'the database session ended before the statement was answered' } });
  }
}

function fieldsOf(frame: Buffer): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [field, text] of readMessageFields(frame)) out[field] = text;
  return out;
}

/** The gateway's refusals carry their PCS code in the detail (errors.ts); the server's never do. */
function refusalOf(fields: Record<number, string>): Refusal | undefined {
  const code = fields[ErrorField.Detail];
  if (code === undefined || !/^PCS_[A-Z0-9_]+$/.test(code)) return undefined;
  const message = fields[ErrorField.Message] ?? '';
  const review = /\breview (r-[0-9a-f]+)\b/.exec(message)?.[1];
  const hint = fields[ErrorField.Hint];
  return { code, message, ...(hint !== undefined ? { hint } : {}), ...(review !== undefined ? { reviewId: review } : {}) };
}

function backendError(fields: Record<number, string>): BackendError {
  const detail = fields[ErrorField.Detail];
  const hint = fields[ErrorField.Hint];
  return { code: fields[ErrorField.Code] ?? 'XX000', message: fields[ErrorField.Message] ?? '', ...(detail !== undefined ? { detail } : {}), ...(hint !== undefined ? { hint } : {}) };
}
