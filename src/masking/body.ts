// Masking of response bodies: whole JSON documents (json rules by path, then content
// detectors on string values), NDJSON, server-sent events and other text, streamed with
// bounded buffering. Pure and protocol-neutral: no sockets, no I/O; the HTTP proxy feeds
// bytes and writes what comes out (an MCP server's tool results can go the same way).
// Other text is masked by the protocol-neutral text masker (src/masking/text-stream.ts).
//
// JSON is never re-serialized. A small tokenizer validates the document and records edits:
// the byte spans of the values to replace, and their replacements. The output is the
// original bytes with those spans swapped, so key order, whitespace and numbers (2^64 ids,
// 0.1000000000000000055) come out exactly as the upstream sent them. The tokenizer keeps
// its own stack (no recursion), so a deeply nested document cannot overflow the call stack.
import type { MaskSpec } from '../core/decision.ts';
import { compileJsonPath, formatJsonPath, type JsonPath, type JsonPathKey } from './json-path.ts';
import type { MaskPlan } from './plan.ts';
import { REDACTED } from './maskers.ts';
import { MASK_STRENGTH, type ContentScanner } from './scanner.ts';
import { EOL_LF, LineSplitter, StreamOutput, textMasker, WITHHELD_LINE, type Line, type StreamMasker } from './text-stream.ts';

// The streaming text masker lives in src/masking/text-stream.ts; named here too for the proxy.
export { textMasker, type StreamMasker };

export interface BodyMaskResult {
  /** The masked body; the very instance passed in when nothing changed. */
  readonly body: Buffer;
  readonly changed: boolean;
  /** Where json rules replaced a value, in document order: `$.customers[0].email` (at most 100). */
  readonly maskedPaths: readonly string[];
  /** How many string values (or text lines) the content detectors changed. */
  readonly detectorHits: number;
  /** True when the body was not valid JSON and was masked as text: no json rule applied. */
  readonly asText: boolean;
}

export type BodyKind = 'json' | 'ndjson' | 'sse' | 'text' | 'binary';

/** Paths kept per result or per stream: enough for an audit record, bounded for huge arrays. */
export const MAX_MASKED_PATHS = 100;

export const WITHHELD_EVENT = '[withheld by portcullis: event too large to mask]';

// ---------------------------------------------------------------------------------------
// Rules

interface JsonRules {
  readonly rules: readonly MaskSpec[];
  readonly paths: readonly JsonPath[];
}

const NO_JSON_RULES: JsonRules = Object.freeze({ rules: [], paths: [] });
const compiled = new WeakMap<MaskPlan, JsonRules>();

/** The plan's json rules, compiled once per plan (plans are cached per masks array). */
function jsonRules(plan: MaskPlan): JsonRules {
  let found = compiled.get(plan);
  if (found === undefined) {
    const rules = plan.rules.filter((r) => r.json !== undefined);
    // The schema validated every path; a throw here means a rule bypassed it: fail, not leak.
    found = rules.length === 0 ? NO_JSON_RULES : { rules, paths: rules.map((r) => compileJsonPath(r.json as string)) };
    compiled.set(plan, found);
  }
  return found;
}

/**
 * False when no rule of the plan can change a body (no json rule, no detector): the caller
 * then passes the body through untouched, without buffering or decoding it.
 */
export function needsMasking(plan: MaskPlan): boolean {
  return plan.scanner !== undefined || jsonRules(plan).rules.length > 0;
}

// ---------------------------------------------------------------------------------------
// Content types

const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonl', 'application/jsonlines', 'application/x-jsonlines', 'application/json-seq', 'application/stream+json']);
const TEXT_TYPES = new Set([
  'application/xml', 'application/javascript', 'application/x-javascript', 'application/ecmascript', 'application/x-www-form-urlencoded',
  'application/yaml', 'application/x-yaml', 'application/toml', 'application/graphql', 'application/sql', 'application/csv',
  'application/x-sh', 'application/x-pem-file', 'application/pem-certificate-chain', 'application/x-httpd-php', 'application/xhtml+xml',
]);

/**
 * Which masker a response body needs, from its Content-Type (parameters and case ignored).
 * A missing or empty type is `text`: an unlabelled body may hold anything, and detectors
 * only replace what they recognise. `binary` (images, archives, octet-stream, unknown
 * `application/*`) is not masked. The caller must have the body without Content-Encoding.
 */
export function bodyKind(contentType: string | undefined): BodyKind {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === '') return 'text';
  if (NDJSON_TYPES.has(type)) return 'ndjson';
  if (type === 'text/event-stream') return 'sse';
  if (type === 'application/json' || type === 'text/json' || type.endsWith('+json')) return 'json';
  if (type.startsWith('text/') || TEXT_TYPES.has(type) || type.endsWith('+xml') || type.endsWith('+yaml')) return 'text';
  return 'binary';
}

// ---------------------------------------------------------------------------------------
// Whole JSON documents

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LF = 0x0a;
const CR = 0x0d;
const NULL_TEXT = Buffer.from('null');
const REDACTED_TEXT = Buffer.from(JSON.stringify(REDACTED));

class InvalidJson extends Error {}

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: Buffer;
}

interface Frame {
  readonly object: boolean;
  /** Per-rule path states of this container; undefined when no rule can match below. */
  readonly states: number[] | undefined;
  /** Inside a value that is replaced whole: validate only. */
  readonly skip: boolean;
  /** The rule replacing this whole container when it closes. */
  readonly rule: MaskSpec | undefined;
  readonly start: number;
  /** Edits made inside this container (only `partial` containers keep their inside masked). */
  readonly editMark: number;
  count: number;
}

class JsonMasker {
  readonly #buf: Buffer;
  readonly #plan: MaskPlan;
  readonly #rules: JsonRules;
  readonly #scanner: ContentScanner | undefined;
  #pos = 0;
  readonly edits: Edit[] = [];
  readonly maskedPaths: string[] = [];
  detectorHits = 0;
  /** The key path of the value being parsed (entries are only read under a match). */
  readonly #path: JsonPathKey[] = [];
  // Set by #string(): whether the last string had escapes, or bytes outside ASCII.
  #escaped = false;
  #ascii = true;
  /** Child states are computed here and copied only for containers: scalars allocate nothing. */
  readonly #scratch: number[];

  constructor(buf: Buffer, plan: MaskPlan, rules: JsonRules) {
    this.#buf = buf;
    this.#plan = plan;
    this.#rules = rules;
    this.#scanner = plan.scanner;
    this.#scratch = rules.paths.map(() => 0);
  }

  /** Walks the whole document; throws InvalidJson. */
  run(): void {
    const buf = this.#buf;
    // A UTF-8 byte order mark: tolerated, so that it does not send the body down the text path.
    if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) this.#pos = 3;
    const stack: Frame[] = [];
    const rootStates = this.#rules.paths.length > 0 ? this.#rules.paths.map((p) => p.start) : undefined;
    let after = !this.#value(rootStates, false, stack);
    while (stack.length > 0) {
      const f = stack[stack.length - 1] as Frame;
      this.#ws();
      let c = buf[this.#pos];
      const close = f.object ? 0x7d : 0x5d;
      if (c === close && (after || f.count === 0)) {
        this.#pos++;
        stack.pop();
        this.#close(f);
        if (stack.length > 0) this.#path.pop();
        after = true;
        continue;
      }
      if (after) {
        if (c !== 0x2c) throw new InvalidJson();
        this.#pos++;
        this.#ws();
        c = buf[this.#pos];
      }
      let key: JsonPathKey;
      if (f.object) {
        if (c !== QUOTE) throw new InvalidJson();
        const start = this.#pos + 1;
        const end = this.#string();
        // Keys are decoded only where a rule may still match: the rest only needs validating.
        key = f.states !== undefined ? this.#decode(start, end) : '';
        this.#ws();
        if (buf[this.#pos] !== 0x3a) throw new InvalidJson();
        this.#pos++;
      } else key = f.count;
      f.count++;
      this.#path.push(key);
      after = !this.#value(f.states !== undefined ? this.#step(f.states, key) : undefined, f.skip, stack);
      if (after) this.#path.pop();
    }
    this.#ws();
    if (this.#pos !== buf.length) throw new InvalidJson();
  }

  #step(states: readonly number[], key: JsonPathKey): number[] | undefined {
    const out = this.#scratch;
    const paths = this.#rules.paths;
    let alive = false;
    for (let i = 0; i < states.length; i++) {
      const next = (paths[i] as JsonPath).step(states[i] as number, key);
      out[i] = next;
      if (next !== 0) alive = true;
    }
    return alive ? out : undefined;
  }

  #matched(states: readonly number[] | undefined): MaskSpec | undefined {
    if (states === undefined) return undefined;
    let best: MaskSpec | undefined;
    for (let i = 0; i < states.length; i++) {
      if (!(this.#rules.paths[i] as JsonPath).accepts(states[i] as number)) continue;
      const rule = this.#rules.rules[i] as MaskSpec;
      if (best === undefined || MASK_STRENGTH[rule.with] > MASK_STRENGTH[best.with]) best = rule;
    }
    return best;
  }

  /** One value at the current position; true when it opened a container (pushed on `stack`). */
  #value(states: number[] | undefined, skip: boolean, stack: Frame[]): boolean {
    const buf = this.#buf;
    this.#ws();
    const start = this.#pos;
    const c = buf[start];
    const rule = skip ? undefined : this.#matched(states);
    if (rule !== undefined && this.maskedPaths.length < MAX_MASKED_PATHS) this.maskedPaths.push(formatJsonPath(this.#path));
    if (c === 0x7b || c === 0x5b) {
      this.#pos++;
      // A container under `partial` keeps its inside masked by the other rules before the
      // last characters of its text are shown; any other function replaces it unseen.
      const inner = rule === undefined || rule.with === 'partial';
      stack.push({ object: c === 0x7b, states: inner && !skip ? states?.slice() : undefined, skip: skip || !inner, rule, start, editMark: this.edits.length, count: 0 });
      return true;
    }
    if (c === QUOTE) {
      const end = this.#string();
      if (skip) return false;
      if (rule !== undefined) this.#replace(start, this.#pos, rule, () => this.#decode(start + 1, end));
      else if (this.#scanner !== undefined) this.#detect(this.#scanner, start + 1, end);
      return false;
    }
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) this.#number();
    else if (!this.#literal('true') && !this.#literal('false') && !this.#literal('null')) throw new InvalidJson();
    if (rule !== undefined) this.#replace(start, this.#pos, rule, () => buf.toString('latin1', start, this.#pos));
    return false;
  }

  #close(f: Frame): void {
    if (f.rule === undefined) return;
    const end = this.#pos;
    const rule = f.rule;
    let inner: Edit[] = [];
    if (rule.with === 'partial') inner = this.edits.splice(f.editMark);
    this.#replace(f.start, end, rule, () => compact(applyEdits(this.#buf, f.start, end, inner)));
  }

  /** Replaces [start, end) by the rule's mask of the value's text (only computed when the function reads it). */
  #replace(start: number, end: number, rule: MaskSpec, text: () => string): void {
    let out: Buffer;
    if (rule.with === 'null') out = NULL_TEXT;
    else if (rule.with === 'redact') out = REDACTED_TEXT;
    else out = Buffer.from(JSON.stringify(this.#plan.maskValue(rule, text())));
    this.edits.push({ start, end, text: out });
  }

  /** Detectors over the string whose content is [start, end). */
  #detect(scanner: ContentScanner, start: number, end: number): void {
    if (end === start) return;
    if (!this.#escaped) {
      // The raw bytes are the value: scanned without decoding when no detector wants them.
      const raw = this.#buf.subarray(start, end);
      const out = scanner.scanBytes(raw);
      if (out === raw) return;
      this.detectorHits++;
      // Replacements are built from the value's own characters, `*` and hex: nothing to escape,
      // and untouched bytes (even invalid UTF-8) go back exactly. Checked anyway.
      const text = out === null ? NULL_TEXT : needsEscape(out) ? Buffer.from(JSON.stringify(out.toString('utf8'))) : Buffer.concat([QUOTE_BUF, out, QUOTE_BUF]);
      this.edits.push({ start: start - 1, end: end + 1, text });
      return;
    }
    const value = this.#decode(start, end);
    const out = scanner.scan(value);
    if (out === value) return;
    this.detectorHits++;
    this.edits.push({ start: start - 1, end: end + 1, text: out === null ? NULL_TEXT : Buffer.from(JSON.stringify(out)) });
  }

  /** The string whose content is [start, end), decoded (escapes resolved). */
  #decode(start: number, end: number): string {
    if (!this.#escaped) return this.#buf.toString(this.#ascii ? 'latin1' : 'utf8', start, end);
    return JSON.parse(this.#buf.toString('utf8', start - 1, end + 1)) as string;
  }

  /** At `"`: validates the string, leaves #pos after its closing quote; returns the index of that quote. */
  #string(): number {
    const buf = this.#buf;
    let i = this.#pos + 1;
    let escaped = false;
    let high = 0;
    for (;;) {
      const c = buf[i];
      if (c === undefined || c < 0x20) throw new InvalidJson();
      if (c === QUOTE) break;
      high |= c & 0x80;
      if (c === BACKSLASH) {
        escaped = true;
        const e = buf[i + 1];
        if (e === 0x75) {
          for (let k = i + 2; k < i + 6; k++) if (!isHex(buf[k])) throw new InvalidJson();
          i += 6;
        } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) i += 2;
        else throw new InvalidJson();
        continue;
      }
      i++;
    }
    this.#escaped = escaped;
    this.#ascii = high === 0;
    this.#pos = i + 1;
    return i;
  }

  #number(): void {
    const buf = this.#buf;
    let i = this.#pos;
    if (buf[i] === 0x2d) i++;
    if (buf[i] === 0x30) i++;
    else if (isDigit(buf[i])) while (isDigit(buf[i])) i++;
    else throw new InvalidJson();
    if (buf[i] === 0x2e) {
      i++;
      if (!isDigit(buf[i])) throw new InvalidJson();
      while (isDigit(buf[i])) i++;
    }
    if (buf[i] === 0x65 || buf[i] === 0x45) {
      i++;
      if (buf[i] === 0x2b || buf[i] === 0x2d) i++;
      if (!isDigit(buf[i])) throw new InvalidJson();
      while (isDigit(buf[i])) i++;
    }
    this.#pos = i;
  }

  #literal(word: string): boolean {
    const buf = this.#buf;
    for (let k = 0; k < word.length; k++) if (buf[this.#pos + k] !== word.charCodeAt(k)) return false;
    this.#pos += word.length;
    return true;
  }

  #ws(): void {
    const buf = this.#buf;
    let c = buf[this.#pos];
    while (c === 0x20 || c === LF || c === CR || c === 0x09) c = buf[++this.#pos];
  }
}

const QUOTE_BUF = Buffer.from('"');

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function needsEscape(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number;
    if (c < 0x20 || c === QUOTE || c === BACKSLASH) return true;
  }
  return false;
}

/** buf[start, end) with the (ordered, disjoint, inside) edits applied. */
function applyEdits(buf: Buffer, start: number, end: number, edits: readonly Edit[]): Buffer {
  if (edits.length === 0) return buf.subarray(start, end);
  const parts: Buffer[] = [];
  let pos = start;
  for (const e of edits) {
    parts.push(buf.subarray(pos, e.start), e.text);
    pos = e.end;
  }
  parts.push(buf.subarray(pos, end));
  return Buffer.concat(parts);
}

/** The JSON text of a valid value without the blanks between tokens: the same value hashes alike however it was indented. */
function compact(json: Buffer): string {
  const out = Buffer.allocUnsafe(json.length);
  let n = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i] as number;
    if (inString) {
      if (c === BACKSLASH) {
        out[n++] = c;
        out[n++] = json[++i] as number;
        continue;
      }
      if (c === QUOTE) inString = false;
    } else if (c === 0x20 || c === LF || c === CR || c === 0x09) continue;
    else if (c === QUOTE) inString = true;
    out[n++] = c;
  }
  return out.toString('utf8', 0, n);
}

/**
 * Masks a whole JSON document: json rules by path first (the matched value, whatever its
 * type, is replaced: a string by the mask function's result, any other value by the mask of
 * its compact JSON text, always as a JSON string; a `null` rule gives JSON null; when several
 * rules match a value the strongest function applies, and a value inside a replaced one is
 * not looked at, except that a container under `partial` has its inside masked first). Then
 * the detectors on every string value no rule replaced (member names are never masked).
 * A body that is not valid JSON is masked as text (detectors only, `asText`).
 */
export function maskJson(body: Buffer, plan: MaskPlan): BodyMaskResult {
  const rules = jsonRules(plan);
  if (rules.rules.length === 0 && plan.scanner === undefined) return unchanged(body, false);
  const m = new JsonMasker(body, plan, rules);
  try {
    m.run();
  } catch (err) {
    if (!(err instanceof InvalidJson)) throw err;
    return { ...maskText(body, plan), asText: true };
  }
  if (m.edits.length === 0) return unchanged(body, false);
  return { body: applyEdits(body, 0, body.length, m.edits), changed: true, maskedPaths: m.maskedPaths, detectorHits: m.detectorHits, asText: false };
}

function unchanged(body: Buffer, asText: boolean): BodyMaskResult {
  return { body, changed: false, maskedPaths: [], detectorHits: 0, asText };
}

/** Detectors only, line by line as textMasker does (a PEM block is scanned whole); no length limit. */
export function maskText(body: Buffer, plan: MaskPlan): BodyMaskResult {
  if (plan.scanner === undefined) return unchanged(body, true);
  const masker = textMasker(plan, Infinity);
  const out = [...masker.push(body), ...masker.end()];
  if (masker.stats.changed === 0) return unchanged(body, true);
  return { body: Buffer.concat(out), changed: true, maskedPaths: [], detectorHits: masker.stats.detectorHits, asText: true };
}

// ---------------------------------------------------------------------------------------
// Streams

/** StreamOutput that also counts the results of maskJson. */
class Output extends StreamOutput {
  count(r: BodyMaskResult): void {
    if (!r.changed) return;
    this.stats.changed++;
    this.stats.detectorHits += r.detectorHits;
    for (const p of r.maskedPaths) if (this.stats.maskedPaths.length < MAX_MASKED_PATHS) this.stats.maskedPaths.push(p);
  }
}

const RS = 0x1e;

function isBlank(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x09 && c !== CR) return false;
  }
  return true;
}

/**
 * NDJSON (also JSON Lines and JSON text sequences): each line is a document masked with
 * maskJson, its line ending kept. A line of more than `maxLine` bytes (ending not counted) is
 * replaced by the JSON string `"[withheld by portcullis: line too long to mask]"`: fail closed.
 */
export function ndjsonMasker(plan: MaskPlan, maxLine: number): StreamMasker {
  const out = new Output();
  const withheld = Buffer.from(JSON.stringify(WITHHELD_LINE));
  const splitter = new LineSplitter(maxLine, false, (content, eol) => {
    if (content === null) {
      out.stats.changed++;
      out.add(withheld, eol);
      return;
    }
    if (isBlank(content)) {
      out.add(content, eol);
      return;
    }
    // application/json-seq puts a record separator before each document.
    const rs = content[0] === RS ? 1 : 0;
    const r = maskJson(rs === 1 ? content.subarray(1) : content, plan);
    out.count(r);
    out.add(r.changed ? (rs === 1 ? Buffer.concat([content.subarray(0, 1), r.body]) : r.body) : content, eol);
  });
  return {
    push: (chunk) => {
      splitter.push(chunk);
      return out.take();
    },
    end: () => {
      splitter.end();
      return out.take();
    },
    stats: out.stats,
  };
}

const DATA = Buffer.from('data');
const DATA_SPACE = Buffer.from('data: ');

function isDataLine(content: Buffer): boolean {
  return content.length >= 4 && content.subarray(0, 4).equals(DATA) && (content.length === 4 || content[4] === 0x3a);
}

/** Where a data line's value starts: after `data:` and one optional space. */
function dataValueStart(content: Buffer): number {
  if (content.length === 4) return 4;
  return content[5] === 0x20 ? 6 : 5;
}

/**
 * text/event-stream: an event is the lines up to a blank line. Its `data:` lines, joined by
 * `\n`, are masked as JSON when they parse, else as text; other fields (event:, id:, retry:,
 * comments) pass as they are, and line endings (`\n`, `\r\n`, `\r`) are kept. An event whose
 * lines pass `maxEvent` bytes (endings not counted) has its data withheld: its other fields
 * pass and one `data: "[withheld by portcullis: event too large to mask]"` line replaces
 * the data. An event cut off by the end of the stream is masked as if complete.
 */
export function sseMasker(plan: MaskPlan, maxEvent: number): StreamMasker {
  const out = new Output();
  const marker = Buffer.from(`data: ${JSON.stringify(WITHHELD_EVENT)}`);
  let held: Line[] = [];
  let heldSize = 0;
  let overflow = false;

  const flush = (): void => {
    const lines = held;
    held = [];
    heldSize = 0;
    const data = lines.filter((l) => isDataLine(l.content));
    if (data.length === 0) {
      for (const l of lines) out.add(l.content, l.eol);
      return;
    }
    const values: Buffer[] = [];
    data.forEach((l, i) => {
      if (i > 0) values.push(EOL_LF);
      values.push(l.content.subarray(dataValueStart(l.content)));
    });
    const r = maskJson(Buffer.concat(values), plan);
    out.count(r);
    if (!r.changed) {
      for (const l of lines) out.add(l.content, l.eol);
      return;
    }
    const masked = splitLines(r.body);
    const oneForOne = masked.length === data.length;
    const first = data[0] as Line;
    for (const l of lines) {
      if (!isDataLine(l.content)) out.add(l.content, l.eol);
      else if (oneForOne) {
        const value = masked[data.indexOf(l)] as Buffer;
        out.add(dataPrefix(l.content, value), value, l.eol);
      } else if (l === first) {
        masked.forEach((value, i) => out.add(dataPrefix(first.content, value), value, i === masked.length - 1 || first.eol.length > 0 ? first.eol : EOL_LF));
      }
    }
  };

  const splitter = new LineSplitter(maxEvent, true, (content, eol) => {
    if (content !== null && content.length === 0) {
      // The blank line ends the event.
      if (!overflow) flush();
      overflow = false;
      out.add(eol);
      splitter.max = maxEvent;
      return;
    }
    if (overflow) {
      // The event's data is already withheld: drop the rest of it, let other fields pass.
      if (content !== null && !isDataLine(content)) out.add(content, eol);
      return;
    }
    if (content === null) {
      overflow = true;
      out.stats.changed++;
      for (const l of held) if (!isDataLine(l.content)) out.add(l.content, l.eol);
      out.add(marker, eol.length > 0 ? eol : EOL_LF);
      held = [];
      heldSize = 0;
      splitter.max = maxEvent;
      return;
    }
    held.push({ content, eol });
    heldSize += content.length;
    // The next line may only take what is left of the event's budget.
    splitter.max = maxEvent - heldSize;
  });
  return {
    push: (chunk) => {
      splitter.push(chunk);
      return out.take();
    },
    end: () => {
      splitter.end();
      if (held.length > 0) flush();
      return out.take();
    },
    stats: out.stats,
  };
}

/** `data:` or `data: ` as the original line had it; the space whenever the value starts with one (else it would be eaten). */
function dataPrefix(original: Buffer, value: Buffer): Buffer {
  const prefix = original.subarray(0, dataValueStart(original));
  if (value[0] === 0x20 && prefix[prefix.length - 1] !== 0x20) return DATA_SPACE;
  return prefix.length === 4 ? DATA_SPACE.subarray(0, 5) : prefix;
}

function splitLines(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  for (let nl = b.indexOf(LF); nl !== -1; nl = b.indexOf(LF, pos)) {
    out.push(b.subarray(pos, nl));
    pos = nl + 1;
  }
  out.push(b.subarray(pos));
  return out;
}
