// Command lines typed into an interactive shell, reconstructed from what the agent sends, for
// the audit. Best effort by nature: the gateway sees keys, not the shell's line buffer, so a
// line edited with keys whose effect depends on the shell's state (history recall, cursor
// movement, completion) is reported with `edited: true` and may not be what ran.
//
// Echo check: a password typed at a no-echo prompt (sudo, `read -s`, `stty -echo`) must not
// end up in the recording. Input is therefore held until the terminal is seen echoing it: the
// printable characters typed (spaces aside, in runs split at control keys and escape
// sequences) must appear, run by run and in order, in the output that followed. Input that is
// not echoed within `waitMs` is recorded with only its line ends, and a line any part of which
// was not echoed is reported without its text. Contiguous runs, not scattered characters:
// output that contains a secret's characters in order by chance does not count as its echo,
// and a typed secret that the output does show was already recorded in the output.
//
// Keys follow what a terminal sends (xterm, VT100): C0 controls, ESC-prefixed keys,
// CSI (`ESC [` parameters final) and SS3 (`ESC O` key) sequences, and bracketed paste
// (`ESC [200~` ... `ESC [201~`), whose text is typed text.

/** C0 control keys the line editor acts on, with the key a terminal user presses. */
const KEY = {
  CTRL_C: 0x03, // interrupt: the line is abandoned
  CTRL_D: 0x04, // end of input on an empty line, delete-char otherwise
  BS: 0x08, // Ctrl-H, backspace on some terminals
  TAB: 0x09, // completion
  LF: 0x0a, // Ctrl-J, accepts the line
  CTRL_L: 0x0c, // clear screen: the line is unchanged
  CR: 0x0d, // Enter
  CTRL_U: 0x15, // kill the line
  CTRL_W: 0x17, // kill the word before the cursor
  ESC: 0x1b,
  DEL: 0x7f, // backspace on most terminals
} as const;

/** Characters kept of one line; the rest is dropped and the line marked `truncated`. */
export const MAX_LINE_CHARS = 16 * 1024;
/** A CSI sequence longer than this is not a key: the parser gives up on it. */
const MAX_CSI = 32;

export interface TypedLine {
  /** The line as reconstructed from the keys. */
  readonly line: string;
  /** Keys whose effect the gateway cannot know were used (history, cursor keys, completion...). */
  readonly edited: boolean;
  /** Longer than MAX_LINE_CHARS: the rest was dropped. */
  readonly truncated: boolean;
}

const TEXT = 0;
const ESCAPE = 1;
const CSI = 2;
const SS3 = 3;
type ParserState = typeof TEXT | typeof ESCAPE | typeof CSI | typeof SS3;

/** Removes the last character (a surrogate pair counts as one). */
function dropLast(s: string): string {
  if (s.length === 0) return s;
  const low = s.charCodeAt(s.length - 1);
  const pair = low >= 0xdc00 && low <= 0xdfff && s.length >= 2 && s.charCodeAt(s.length - 2) >= 0xd800 && s.charCodeAt(s.length - 2) <= 0xdbff;
  return s.slice(0, pair ? -2 : -1);
}

/**
 * Lines from keys, as a line editor with the cursor at the end of the line would make them.
 * State carries across feed() calls: a key or a character may be split between chunks.
 */
export class LineEditor {
  #line = '';
  #edited = false;
  #truncated = false;
  /** The previous key was CR: an LF right after it (CRLF) ends nothing. */
  #afterCr = false;
  #state: ParserState = TEXT;
  #csi = '';
  #paste = false;

  /** Feeds typed text; returns the lines it completed. */
  feed(text: string): TypedLine[] {
    const done: TypedLine[] = [];
    for (const ch of text) this.#key(ch, done);
    return done;
  }

  #key(ch: string, done: TypedLine[]): void {
    const code = ch.codePointAt(0) ?? 0;
    switch (this.#state) {
      case ESCAPE:
        if (ch === '[') {
          this.#state = CSI;
          this.#csi = '';
          return;
        }
        if (ch === 'O') {
          this.#state = SS3;
          return;
        }
        this.#state = TEXT;
        this.#edited = true;
        // ESC then a control key: the control key counts on its own (ESC Enter still accepts).
        if (code < 0x20 && code !== KEY.ESC) break;
        if (code === KEY.ESC) this.#state = ESCAPE;
        return;
      case CSI:
        if (code >= 0x40 && code <= 0x7e) {
          this.#state = TEXT;
          const seq = this.#csi + ch;
          if (seq === '200~') this.#paste = true;
          else if (seq === '201~') this.#paste = false;
          else this.#edited = true;
          return;
        }
        if (code >= 0x20 && code < 0x40 && this.#csi.length < MAX_CSI) {
          this.#csi += ch;
          return;
        }
        // Not a well-formed sequence: give up on it and read this character as a key.
        this.#state = TEXT;
        this.#edited = true;
        break;
      case SS3:
        this.#state = TEXT;
        this.#edited = true;
        if (code >= 0x20) return;
        break;
      case TEXT:
        break;
    }
    const afterCr = this.#afterCr;
    this.#afterCr = false;
    switch (code) {
      case KEY.CR:
        this.#afterCr = true;
        return this.#end(done);
      case KEY.LF:
        if (!afterCr) this.#end(done);
        return;
      case KEY.ESC:
        this.#state = ESCAPE;
        return;
      case KEY.BS:
      case KEY.DEL:
        this.#line = dropLast(this.#line);
        return;
      case KEY.CTRL_U:
        this.#line = '';
        return;
      case KEY.CTRL_W:
        this.#line = this.#line.replace(/\S*\s*$/u, '');
        return;
      case KEY.CTRL_C:
        this.#reset();
        return;
      case KEY.CTRL_D:
        if (this.#line !== '') this.#edited = true;
        return;
      case KEY.CTRL_L:
        return;
      case KEY.TAB:
        if (this.#paste) this.#append(ch);
        else this.#edited = true;
        return;
    }
    if (code < 0x20 || (code >= 0x80 && code <= 0x9f)) {
      this.#edited = true;
      return;
    }
    this.#append(ch);
  }

  #append(ch: string): void {
    if (this.#line.length + ch.length <= MAX_LINE_CHARS) this.#line += ch;
    else this.#truncated = true;
  }

  #end(done: TypedLine[]): void {
    done.push({ line: this.#line, edited: this.#edited, truncated: this.#truncated });
    this.#reset();
  }

  #reset(): void {
    this.#line = '';
    this.#edited = false;
    this.#truncated = false;
  }
}

/** Keys that print nothing themselves: controls and escape sequences (best effort per chunk). */
// eslint-disable-next-line no-control-regex -- terminal control characters are what it matches
const SILENT_KEYS = /\x1b(?:\[[0-?]*[ -/]*[@-~]?|O.?|.?)|[\x00-\x1f\x7f-\x9f]/gsu;
/** What does not count when looking for an echo: escape sequences (CSI, OSC and other strings, SS2/SS3, two-character ones), controls and white space. */
// eslint-disable-next-line no-control-regex -- terminal control characters are what it matches
const OUTPUT_NOISE = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[NO].|[ -/]*[0-~])?|[\x00-\x1f\x7f-\x9f]|\s/gsu;
const WHITE_SPACE = /\s/gu;

/** What an echoing terminal shows of typed text: its printable characters without spaces, in runs split at silent keys. */
export function echoRuns(typed: string): string[] {
  const runs: string[] = [];
  for (const part of typed.split(SILENT_KEYS)) {
    const run = part.replace(WHITE_SPACE, '');
    if (run !== '') runs.push(run);
  }
  return runs;
}

/** Output as the echo check compares it: without escape sequences, controls and white space. */
export function echoText(output: string): string {
  return output.replace(OUTPUT_NOISE, '');
}

/** A piece of typed input with the time it arrived (milliseconds, the caller's clock). */
export interface TypedInputPiece {
  readonly at: number;
  readonly text: string;
}

/** Input decided by the echo check, in the order it was typed. */
export interface ReleasedInput {
  /** What may be recorded: the input as typed when echoed, else only its line ends. */
  readonly input: readonly TypedInputPiece[];
  readonly echoed: boolean;
  /** The line this input completed: `echoed` is false when any part of it was not echoed. */
  readonly line?: TypedLine & { readonly at: number; readonly echoed: boolean };
}

/** Typed input up to and including a line end (or up to now, for the last one). */
interface Segment {
  readonly pieces: TypedInputPiece[];
  text: string;
  /** Where in the output stream (as echoText counts) the segment was typed. */
  readonly from: number;
  lastAt: number;
  ended: boolean;
  line: TypedLine | undefined;
  /** Echo search: the runs, how many were found, and where to look for the next. */
  runs: string[] | undefined;
  found: number;
  pos: number;
}

export interface TypedInputOptions {
  /** False when nothing echoes by design (a shell without a PTY): all input counts as echoed. */
  readonly echoCheck: boolean;
  /** How long typed input may wait for its echo. */
  readonly waitMs?: number;
  /** Held input beyond this many characters is decided at once, echo seen or not. */
  readonly maxHeldChars?: number;
}

export const ECHO_WAIT_MS = 5000;
const MAX_HELD_CHARS = 64 * 1024;
/** Output kept for the echo search while input waits (in echoText characters). */
const MAX_SEEN = 256 * 1024;
const LINE_END = /[\r\n]/g;
const NOT_LINE_END = /[^\r\n]/g;

/**
 * Typed lines and the echo check of one terminal. Pure: times come from the caller, and the
 * caller asks for what is decided (take) after input, output, or at nextDeadline().
 */
export class TypedInput {
  readonly #editor = new LineEditor();
  readonly #echoCheck: boolean;
  readonly #waitMs: number;
  readonly #maxHeld: number;
  /** Undecided input, oldest first; the last one may still be open (no line end yet). */
  #segments: Segment[] = [];
  #held = 0;
  /** Output since the oldest undecided input (echoText), and its position in the whole stream. */
  #seen = '';
  #seenBase = 0;
  /** Part of the line being typed was released as not echoed. */
  #lineUnechoed = false;

  constructor(opts: TypedInputOptions) {
    this.#echoCheck = opts.echoCheck;
    this.#waitMs = opts.waitMs ?? ECHO_WAIT_MS;
    this.#maxHeld = opts.maxHeldChars ?? MAX_HELD_CHARS;
  }

  /** Typed text (already decoded), arrived at `at`. */
  input(text: string, at: number): void {
    let start = 0;
    LINE_END.lastIndex = 0;
    for (let m = LINE_END.exec(text); ; m = LINE_END.exec(text)) {
      const end = m === null ? text.length : m.index + 1;
      if (end > start) this.#piece(text.slice(start, end), at, m !== null);
      if (m === null) break;
      start = end;
    }
  }

  /** Output of the terminal (already decoded): searched for the echo of waiting input. */
  output(text: string): void {
    if (!this.#echoCheck || this.#segments.length === 0) return;
    const seen = echoText(text);
    if (seen === '') return;
    this.#seen += seen;
    if (this.#seen.length > MAX_SEEN) {
      const cut = this.#seen.length - MAX_SEEN / 2;
      this.#seen = this.#seen.slice(cut);
      this.#seenBase += cut;
    }
    for (const segment of this.#segments) this.#search(segment);
  }

  /** Input decided by `now`, in typed order. */
  take(now: number): ReleasedInput[] {
    const out: ReleasedInput[] = [];
    for (;;) {
      const head = this.#segments[0];
      if (head === undefined) break;
      let echoed: boolean;
      if (!this.#echoCheck) echoed = true;
      else {
        const found = this.#found(head);
        if (found && head.ended) echoed = true;
        else if (now >= head.lastAt + this.#waitMs || this.#held > this.#maxHeld) echoed = found;
        else break;
      }
      out.push(this.#release(echoed));
    }
    return out;
  }

  /** The terminal ended: everything still held is decided now. */
  finish(): ReleasedInput[] {
    const out: ReleasedInput[] = [];
    while (this.#segments[0] !== undefined) out.push(this.#release(!this.#echoCheck || this.#found(this.#segments[0])));
    return out;
  }

  /** When take() may next have something to release (undefined: nothing is waiting). */
  nextDeadline(): number | undefined {
    const head = this.#segments[0];
    return this.#echoCheck && head !== undefined ? head.lastAt + this.#waitMs : undefined;
  }

  #piece(text: string, at: number, ends: boolean): void {
    let segment = this.#segments[this.#segments.length - 1];
    if (segment === undefined || segment.ended) {
      segment = { pieces: [], text: '', from: this.#seenBase + this.#seen.length, lastAt: at, ended: false, line: undefined, runs: undefined, found: 0, pos: 0 };
      this.#segments.push(segment);
    }
    segment.pieces.push({ at, text });
    segment.text += text;
    segment.lastAt = at;
    segment.ended = ends;
    this.#held += text.length;
    const [line] = this.#editor.feed(text);
    if (line !== undefined) segment.line = line;
    if (!this.#echoCheck) return;
    // The last run may have grown: search again from where the segment was typed.
    segment.runs = undefined;
    segment.found = 0;
    segment.pos = segment.from;
    this.#search(segment);
  }

  #found(segment: Segment): boolean {
    return segment.runs !== undefined && segment.found === segment.runs.length;
  }

  #search(segment: Segment): void {
    const runs = (segment.runs ??= echoRuns(segment.text));
    while (segment.found < runs.length) {
      const run = runs[segment.found] ?? '';
      const at = this.#seen.indexOf(run, Math.max(0, segment.pos - this.#seenBase));
      if (at < 0) {
        // Not there yet: next time, look only where a new match could still begin.
        segment.pos = Math.max(segment.pos, this.#seenBase + this.#seen.length - run.length + 1);
        return;
      }
      segment.pos = this.#seenBase + at + run.length;
      segment.found++;
    }
  }

  #release(echoed: boolean): ReleasedInput {
    const segment = this.#segments.shift();
    if (segment === undefined) throw new Error('nothing to release');
    this.#held -= segment.text.length;
    if (this.#segments.length === 0) {
      this.#seenBase += this.#seen.length;
      this.#seen = '';
    }
    const input = echoed ? segment.pieces : segment.pieces.map((p) => ({ at: p.at, text: p.text.replace(NOT_LINE_END, '') })).filter((p) => p.text !== '');
    if (segment.line === undefined) {
      if (!echoed) this.#lineUnechoed = true;
      return { input, echoed };
    }
    const line = { ...segment.line, at: segment.lastAt, echoed: echoed && !this.#lineUnechoed };
    this.#lineUnechoed = false;
    return { input, echoed, line };
  }
}
