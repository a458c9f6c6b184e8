// The configuration side of masking: the checks the schema runs on each `masks` entry. The
// conversion of a validated entry into a rule is policy's (src/policy/mask-rules.ts).
import { checkCustomPattern } from './detectors/safe-regex.ts';
import { CUSTOM_DETECTOR, expandDetectorName, KNOWN_DETECTOR_NAMES } from './detectors/names.ts';
import { compileJsonPath, JsonPathError } from './json-path.ts';
import type { MaskRule } from './types.ts';

/** A `masks` entry as the schema reads it. */
export interface MaskEntry {
  readonly column?: string | undefined;
  readonly detector?: string | undefined;
  readonly json?: string | undefined;
  readonly name?: string | undefined;
  readonly pattern?: string | undefined;
  readonly with: MaskRule['with'];
  readonly deny_in_predicates?: boolean | undefined;
}

/** What is wrong with one entry, by field; empty when it is fine. */
export function maskEntryProblems(m: MaskEntry): Array<{ readonly path: string; readonly message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  const named = (['column', 'detector', 'json'] as const).filter((k) => m[k] !== undefined);
  if (named.length === 0) out.push({ path: '', message: 'a mask names one of column, detector or json' });
  // Naming the fields that clash says which one to remove.
  else if (named.length > 1) out.push({ path: '', message: `a mask names exactly one of ${named.join(', ').replace(/, (?=[^,]*$)/, ' or ')}` });
  if (m.json !== undefined) {
    try {
      compileJsonPath(m.json);
    } catch (err) {
      if (!(err instanceof JsonPathError)) throw err;
      out.push({ path: 'json', message: `invalid JSON path ${JSON.stringify(m.json)}: ${err.message}` });
    }
  }
  if (m.detector === CUSTOM_DETECTOR) {
    if (m.name === undefined) out.push({ path: 'name', message: 'a custom detector needs a name' });
    if (m.pattern === undefined) out.push({ path: 'pattern', message: 'a custom detector needs a pattern' });
    else {
      const check = checkCustomPattern(m.pattern);
      if (!check.ok) out.push({ path: 'pattern', message: check.reason });
    }
    return out;
  }
  if (m.detector !== undefined && expandDetectorName(m.detector) === undefined) {
    out.push({ path: 'detector', message: `unknown detector ${m.detector}; known detectors: ${KNOWN_DETECTOR_NAMES.join(', ')}` });
  }
  if (m.name !== undefined) out.push({ path: 'name', message: 'name goes only with detector: custom' });
  if (m.pattern !== undefined) out.push({ path: 'pattern', message: 'pattern goes only with detector: custom' });
  return out;
}
