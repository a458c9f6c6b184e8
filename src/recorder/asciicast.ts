// Terminal sessions (interactive shells) recorded as asciicast v2 material, and the asciicast
// v2 document built back from them (https://docs.asciinema.org/manual/asciicast/v2/).
//
// Stored as session events, so a terminal's recording shares the recorder's batching,
// limits and guarantees (recording.md):
//   shell  {phase: 'start', shell, term, cols, rows, started, ...}  once per terminal
//   cast   {shell, events: [[t, code, data], ...]}                  the stream, in rows
// `t` is seconds since the terminal started, `code` the asciicast one: "o" output, "i" input,
// "r" resize ("COLSxROWS"). A `cast` row holds what arrived within ~50 ms (flushMs), up to
// 16 Ki characters (maxChars: at most 48 KiB of UTF-8, under the recorder's 64 KiB string
// limit) and 256 events; consecutive output in a row is one "o" event at the time of its
// first chunk. Input may be stored after later output (the SSH shell holds it until it is
// seen echoed), so the builder orders events by time.
import { StringDecoder } from 'node:string_decoder';
import type { Store } from '../store/store.ts';
import { getSession, MAX_EVENT_LIMIT, type SessionEvent, type SessionSummary } from './reader.ts';
import type { SessionRecording } from './recording.ts';

export const SHELL_EVENT = 'shell';
export const CAST_EVENT = 'cast';

export type CastCode = 'o' | 'i' | 'r' | 'm';
export type CastEvent = [time: number, code: CastCode, data: string];

/** The terminal a shell runs in, as the client asked for it (0x0 and no term without a PTY). */
export interface TerminalInfo {
  readonly shell: number;
  readonly term: string | null;
  readonly cols: number;
  readonly rows: number;
}

export interface TerminalRecorderOptions {
  /** Milliseconds, monotonic (default performance.now). */
  readonly now?: () => number;
  /** Epoch milliseconds (default Date.now). */
  readonly wallClock?: () => number;
  readonly flushMs?: number;
  readonly maxChars?: number;
  readonly maxEvents?: number;
}

const FLUSH_MS = 50;
const MAX_CHARS = 16 * 1024;
const MAX_EVENTS = 256;

/** Seconds from `t0` to `at` (milliseconds), to the microsecond as asciinema writes them. */
function offset(t0: number, at: number): number {
  return Math.max(0, Math.round((at - t0) * 1000)) / 1_000_000;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Records one terminal. Synchronous and cheap per chunk: output is decoded (one decoder per
 * stream, so a character split across chunks stays whole) and appended to the pending row,
 * which is handed to the recording when full or ~flushMs after its first event.
 */
export class TerminalRecorder {
  readonly shell: number;
  /** Epoch milliseconds when the terminal started (the asciicast header's timestamp). */
  readonly startedAt: number;
  readonly #recording: SessionRecording;
  readonly #now: () => number;
  readonly #t0: number;
  readonly #flushMs: number;
  /** Seconds within which output joins the previous output event (the row's age bound, also when a timer is late). */
  readonly #coalesce: number;
  readonly #maxChars: number;
  readonly #maxEvents: number;
  readonly #stdout = new StringDecoder('utf8');
  readonly #stderr = new StringDecoder('utf8');
  #events: CastEvent[] = [];
  #chars = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(recording: SessionRecording, shell: number, opts: TerminalRecorderOptions) {
    this.#recording = recording;
    this.shell = shell;
    this.#now = opts.now ?? (() => performance.now());
    this.#t0 = this.#now();
    this.startedAt = (opts.wallClock ?? Date.now)();
    this.#flushMs = opts.flushMs ?? FLUSH_MS;
    this.#coalesce = this.#flushMs / 1000;
    this.#maxChars = Math.max(2, opts.maxChars ?? MAX_CHARS);
    this.#maxEvents = Math.max(1, opts.maxEvents ?? MAX_EVENTS);
  }

  /** Records the `shell` start event (with `data`, e.g. the decision) and returns the recorder. */
  static start(recording: SessionRecording, terminal: TerminalInfo, data: Readonly<Record<string, unknown>> = {}, opts: TerminalRecorderOptions = {}): TerminalRecorder {
    const recorder = new TerminalRecorder(recording, terminal.shell, opts);
    recording.event(SHELL_EVENT, { ...data, phase: 'start', shell: terminal.shell, term: terminal.term, cols: terminal.cols, rows: terminal.rows, started: recorder.startedAt });
    return recorder;
  }

  /** Milliseconds on this recorder's clock: the time to pass to input() for held input. */
  clock(): number {
    return this.#now();
  }

  /** Seconds since the terminal started, for `at` on clock(). */
  offset(at: number): number {
    return offset(this.#t0, at);
  }

  /** Output of the terminal; returns it decoded. */
  output(chunk: Buffer, stream: 'stdout' | 'stderr' = 'stdout'): string {
    const text = (stream === 'stdout' ? this.#stdout : this.#stderr).write(chunk);
    this.#add('o', text, this.#now());
    return text;
  }

  /** Typed input, already decoded; `at` is when it arrived (clock()), which may be in the past. */
  input(text: string, at: number = this.#now()): void {
    this.#add('i', text, at);
  }

  resize(cols: number, rows: number): void {
    this.#add('r', `${cols}x${rows}`, this.#now());
  }

  /** Hands the pending row to the recording. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#events.length === 0) return;
    this.#recording.event(CAST_EVENT, { shell: this.shell, events: this.#events });
    this.#events = [];
    this.#chars = 0;
  }

  /** The terminal ended: what the decoders still hold (a cut character becomes U+FFFD) and the last row. */
  close(): void {
    if (this.#closed) return;
    const at = this.#now();
    this.#add('o', this.#stdout.end(), at);
    this.#add('o', this.#stderr.end(), at);
    this.#closed = true;
    this.flush();
  }

  #add(code: CastCode, text: string, at: number): void {
    if (this.#closed || text === '') return;
    const t = offset(this.#t0, at);
    let rest = text;
    while (rest !== '') {
      let cut = Math.min(rest.length, this.#maxChars - this.#chars);
      // Never split a surrogate pair between two events.
      if (cut < rest.length && cut > 0 && isHighSurrogate(rest.charCodeAt(cut - 1))) cut--;
      if (cut <= 0) {
        this.flush();
        continue;
      }
      const part = cut === rest.length ? rest : rest.slice(0, cut);
      rest = cut === rest.length ? '' : rest.slice(cut);
      const last = this.#events[this.#events.length - 1];
      if (code === 'o' && last !== undefined && last[1] === 'o' && t - last[0] <= this.#coalesce) last[2] += part;
      else this.#events.push([t, code, part]);
      this.#chars += part.length;
      if (this.#chars >= this.#maxChars || this.#events.length >= this.#maxEvents) this.flush();
    }
    if (this.#events.length > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, this.#flushMs);
      this.#timer.unref();
    }
  }
}

// ---- Building the document --------------------------------------------------------------

export interface CastHeader {
  readonly version: 2;
  readonly width: number;
  readonly height: number;
  readonly timestamp: number;
  readonly duration?: number;
  readonly title: string;
  readonly env: Readonly<Record<string, string>>;
}

export interface Cast {
  readonly header: CastHeader;
  /** Ordered by time. */
  readonly events: readonly CastEvent[];
  /** The shells it holds, by number. */
  readonly shells: readonly number[];
}

/** The start event of a shell, as stored. */
interface ShellStart extends TerminalInfo {
  readonly started: number;
}

const DEFAULT_WIDTH = 80;
const DEFAULT_HEIGHT = 24;
const CODES: ReadonlySet<string> = new Set(['o', 'i', 'r', 'm']);

function shellStart(e: SessionEvent): ShellStart | undefined {
  const d = e.data;
  if (e.kind !== SHELL_EVENT || d.phase !== 'start' || typeof d.shell !== 'number') return undefined;
  return {
    shell: d.shell,
    term: typeof d.term === 'string' ? d.term : null,
    cols: typeof d.cols === 'number' ? d.cols : 0,
    rows: typeof d.rows === 'number' ? d.rows : 0,
    started: typeof d.started === 'number' ? d.started : e.at,
  };
}

function castEvents(e: SessionEvent): { shell: number; events: CastEvent[] } | undefined {
  const d = e.data;
  if (e.kind !== CAST_EVENT || typeof d.shell !== 'number' || !Array.isArray(d.events)) return undefined;
  const events: CastEvent[] = [];
  for (const item of d.events as unknown[]) {
    if (!Array.isArray(item)) continue;
    const [t, code, data] = item as unknown[];
    if (typeof t === 'number' && typeof code === 'string' && CODES.has(code) && typeof data === 'string') events.push([t, code as CastCode, data]);
  }
  return { shell: d.shell, events };
}

/** The shells a session recorded, by number, in the order they started. */
export function shellsOf(events: readonly SessionEvent[]): number[] {
  const shells: number[] = [];
  for (const e of events) {
    const start = shellStart(e);
    if (start !== undefined) shells.push(start.shell);
  }
  return shells;
}

/**
 * The asciicast v2 document of a session's shells (all of them, one after the other on the
 * session's clock, each marked; or only `shell`), or undefined when it recorded none.
 */
export function buildCast(sessionId: string, events: readonly SessionEvent[], opts: { shell?: number } = {}): Cast | undefined {
  const starts = new Map<number, ShellStart>();
  for (const e of events) {
    const start = shellStart(e);
    if (start !== undefined && (opts.shell === undefined || start.shell === opts.shell)) starts.set(start.shell, start);
  }
  const first = starts.values().next().value;
  if (first === undefined) return undefined;
  const out: CastEvent[] = [];
  const several = starts.size > 1;
  for (const start of starts.values()) {
    const at = offset(first.started, start.started);
    if (several) out.push([at, 'm', `shell ${start.shell}`]);
    if (start !== first && start.cols > 0 && start.rows > 0) out.push([at, 'r', `${start.cols}x${start.rows}`]);
  }
  for (const e of events) {
    const row = castEvents(e);
    const start = row === undefined ? undefined : starts.get(row.shell);
    if (row === undefined || start === undefined) continue;
    const shift = offset(first.started, start.started);
    for (const [t, code, data] of row.events) out.push([shift === 0 ? t : Math.round((shift + t) * 1_000_000) / 1_000_000, code, data]);
  }
  // Stable: events of the same time keep their stored order.
  out.sort((a, b) => a[0] - b[0]);
  const last = out[out.length - 1];
  const header: CastHeader = {
    version: 2,
    width: first.cols > 0 ? first.cols : DEFAULT_WIDTH,
    height: first.rows > 0 ? first.rows : DEFAULT_HEIGHT,
    timestamp: Math.floor(first.started / 1000),
    ...(last !== undefined ? { duration: last[0] } : {}),
    title: `portcullis session ${sessionId}`,
    env: first.term !== null ? { TERM: first.term } : {},
  };
  return { header, events: out, shells: [...starts.keys()] };
}

/** The .cast file: the header line, then one JSON array per event. */
export function formatCast(cast: Cast): string {
  let text = JSON.stringify(cast.header) + '\n';
  for (const e of cast.events) text += JSON.stringify(e) + '\n';
  return text;
}

/** A stored session and its cast (undefined: no shell recorded); undefined for an unknown session. */
export async function readCast(store: Pick<Store, 'recordings'>, id: string, opts: { shell?: number } = {}): Promise<{ session: SessionSummary; cast: Cast | undefined } | undefined> {
  const first = await getSession(store, id, { limit: MAX_EVENT_LIMIT });
  if (!first) return undefined;
  const keep = (page: readonly SessionEvent[]): SessionEvent[] => page.filter((e) => e.kind === SHELL_EVENT || e.kind === CAST_EVENT);
  const events = keep(first.events);
  for (let page = first.events; page.length === MAX_EVENT_LIMIT; ) {
    page = (await getSession(store, id, { afterSeq: page[page.length - 1]?.seq ?? 0, limit: MAX_EVENT_LIMIT }))?.events ?? [];
    events.push(...keep(page));
  }
  return { session: first.session, cast: buildCast(id, events, opts) };
}
