// Custom detectors: a name and a regular expression from the policy, checked by
// safe-regex.ts and compiled once per distinct pattern (plans of many policies share them).
import { partialGeneric } from '../maskers.ts';
import type { Detector, SpanSink } from '../types.ts';
import { checkCustomPattern } from './safe-regex.ts';

const compiled = new Map<string, RegExp>();
/** Enough for any real policy set; beyond it the cache is rebuilt rather than grown. */
const MAX_CACHED = 1024;

function compile(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (re === undefined) {
    const check = checkCustomPattern(pattern);
    // The configuration schema runs the same check, so this only fires for hand-built rules.
    if (!check.ok) throw new TypeError(`custom detector pattern rejected: ${check.reason}`);
    re = new RegExp(check.source, 'g');
    if (compiled.size >= MAX_CACHED) compiled.clear();
    compiled.set(pattern, re);
  }
  return re;
}

/** A detector for `{ detector: custom, name, pattern }`. Throws on a rejected pattern. */
export function customDetector(name: string, pattern: string): Detector {
  const re = compile(pattern);
  return {
    name,
    wants: (p) => p.length > 0,
    find(text: string, sink: SpanSink): void {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        // The check rejects patterns that match the empty string; stay safe if one slips by.
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        sink.add(m.index, m.index + m[0].length);
      }
    },
    partial: partialGeneric,
  };
}
