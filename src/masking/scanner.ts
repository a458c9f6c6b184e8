// The content scanner: built once per mask plan from the detector rules it enables, then run
// over every text value that no column rule already masked. Per value: one profiling pass,
// then only the detectors the profile allows, then one rebuild of the value if anything was
// found. A value without findings comes back as the same instance, so callers can compare
// with === and skip all work (for bytes: the value is not even decoded).
import { isAscii, isUtf8 } from 'node:buffer';
import { BUILTIN_DETECTORS } from './detectors/names.ts';
import { resolveDetectors } from './detectors/registry.ts';
import { REDACTED, type Hasher } from './maskers.ts';
import { newProfile, profileBytes, profileText } from './text.ts';
import { FLAG, type Detector, type MaskFunction, type MaskRule, type SpanSink, type TextProfile } from './types.ts';

/** How much a mask function hides: when two rules cover the same text, the stronger wins. */
export const MASK_STRENGTH: Readonly<Record<MaskFunction, number>> = Object.freeze({ partial: 0, hash: 1, redact: 2, null: 3 });

interface ScanRule {
  readonly detector: Detector;
  readonly fn: MaskFunction;
  readonly rule: MaskRule;
}

/** One masked span of a scanned value, for recordings: what was found and which rule masked it. */
export interface Finding {
  readonly start: number;
  readonly end: number;
  readonly detector: string;
  readonly rule: MaskRule;
}

/**
 * Values longer than this are not profiled: every detector's own anchor search (indexOf of
 * `@`, `eyJ`, `://`...) is cheaper than a character-by-character pass over a large value.
 */
const PROFILE_MAX = 4096;

/** A profile that lets every detector run. */
function everything(p: TextProfile, length: number): void {
  p.length = p.digits = p.upper = length;
  p.flags = ALL_FLAGS;
}

const ALL_FLAGS = Object.values(FLAG).reduce((a, b) => a | b, 0);

export class ContentScanner {
  readonly #rules: readonly ScanRule[];
  readonly #hasher: Hasher;
  // Scratch state reused by every call: scanning is synchronous and never re-entered.
  readonly #profile = newProfile();
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  readonly #which: number[] = [];
  #current = 0;
  readonly #sink: SpanSink;

  constructor(rules: readonly ScanRule[], hasher: Hasher) {
    this.#rules = rules;
    this.#hasher = hasher;
    this.#sink = {
      add: (start, end) => {
        if (end <= start) return;
        this.#starts.push(start);
        this.#ends.push(end);
        this.#which.push(this.#current);
      },
    };
  }

  /** The detectors this scanner runs, in priority order. */
  get detectors(): readonly string[] {
    return this.#rules.map((r) => r.detector.name);
  }

  /** The masked value, the same string when nothing was found, or null (a `null` rule matched). */
  scan(value: string): string | null {
    if (value.length === 0 || !this.#collect(value)) return value;
    return this.#rebuild(value);
  }

  /**
   * Same over the bytes of a text value. ASCII and invalid UTF-8 are scanned byte for byte
   * (as latin1, so offsets are byte offsets and untouched bytes are written back exactly);
   * valid UTF-8 with other characters is decoded and re-encoded.
   */
  scanBytes(value: Buffer): Buffer | null {
    if (value.length === 0) return value;
    if (value.length <= PROFILE_MAX) {
      profileBytes(value, this.#profile);
      if (!this.#anyWants()) return value;
    } else everything(this.#profile, value.length);
    const encoding = isAscii(value) || !isUtf8(value) ? 'latin1' : 'utf8';
    const text = value.toString(encoding);
    if (!this.#collect(text, true)) return value;
    const masked = this.#rebuild(text);
    return masked === null ? null : Buffer.from(masked, encoding);
  }

  /** The merged findings in a value (what `scan` masks), for recordings and tests. */
  findings(value: string): Finding[] {
    if (value.length === 0 || !this.#collect(value)) return [];
    return this.#merged().map(([start, end, r]) => {
      const rule = this.#rules[r] as ScanRule;
      return { start, end, detector: rule.detector.name, rule: rule.rule };
    });
  }

  #anyWants(): boolean {
    for (const r of this.#rules) if (r.detector.wants(this.#profile)) return true;
    return false;
  }

  /** Runs the detectors; true when any span was found. */
  #collect(text: string, profiled = false): boolean {
    if (profiled) {
      // already done by the caller
    } else if (text.length <= PROFILE_MAX) profileText(text, this.#profile);
    else everything(this.#profile, text.length);
    this.#starts.length = this.#ends.length = this.#which.length = 0;
    for (let i = 0; i < this.#rules.length; i++) {
      const rule = this.#rules[i] as ScanRule;
      if (!rule.detector.wants(this.#profile)) continue;
      this.#current = i;
      rule.detector.find(text, this.#sink);
    }
    return this.#starts.length > 0;
  }

  /** Spans sorted by start; overlapping ones joined under the stronger (then earlier) rule. */
  #merged(): Array<[number, number, number]> {
    const order = this.#starts.map((_, i) => i);
    if (order.length > 1) order.sort((a, b) => (this.#starts[a] as number) - (this.#starts[b] as number) || (this.#which[a] as number) - (this.#which[b] as number));
    const out: Array<[number, number, number]> = [];
    for (const i of order) {
      const start = this.#starts[i] as number;
      const end = this.#ends[i] as number;
      const r = this.#which[i] as number;
      const last = out[out.length - 1];
      if (last !== undefined && start < last[1]) {
        last[1] = Math.max(last[1], end);
        if (this.#stronger(r, last[2])) last[2] = r;
      } else out.push([start, end, r]);
    }
    return out;
  }

  #stronger(a: number, b: number): boolean {
    const sa = MASK_STRENGTH[(this.#rules[a] as ScanRule).fn];
    const sb = MASK_STRENGTH[(this.#rules[b] as ScanRule).fn];
    return sa > sb || (sa === sb && a < b);
  }

  #rebuild(text: string): string | null {
    let out = '';
    let pos = 0;
    for (const [start, end, r] of this.#merged()) {
      const rule = this.#rules[r] as ScanRule;
      const found = text.slice(start, end);
      let replacement: string;
      switch (rule.fn) {
        case 'null':
          return null;
        case 'redact':
          replacement = REDACTED;
          break;
        case 'partial':
          replacement = rule.detector.partial(found);
          break;
        case 'hash':
          replacement = this.#hasher(found);
          break;
      }
      out += text.slice(pos, start) + replacement;
      pos = end;
    }
    return out + text.slice(pos);
  }
}

function priority(detector: Detector): number {
  const i = (BUILTIN_DETECTORS as readonly string[]).indexOf(detector.name);
  // Custom detectors first: an administrator's own pattern is the most specific rule.
  return i === -1 ? -1 : i;
}

/**
 * A scanner for the detector rules among `rules` (column rules are ignored), or undefined
 * when there are none. A detector enabled by several rules runs once, under the strongest.
 * Throws on an unknown detector or a rejected custom pattern (see resolveDetectors).
 */
export function createContentScanner(rules: readonly MaskRule[], hasher: Hasher): ContentScanner | undefined {
  const byDetector = new Map<Detector, ScanRule>();
  for (const rule of rules) {
    if (rule.detector === undefined) continue;
    for (const detector of resolveDetectors({ detector: rule.detector, name: rule.name, pattern: rule.pattern })) {
      const seen = byDetector.get(detector);
      if (seen === undefined || MASK_STRENGTH[rule.with] > MASK_STRENGTH[seen.fn]) byDetector.set(detector, { detector, fn: rule.with, rule });
    }
  }
  if (byDetector.size === 0) return undefined;
  const ordered = [...byDetector.values()].sort((a, b) => priority(a.detector) - priority(b.detector));
  return new ContentScanner(Object.freeze(ordered), hasher);
}
