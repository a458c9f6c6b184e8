import { BUILTIN } from '../../src/masking/detectors/registry.ts';
import type { BuiltinDetectorName } from '../../src/masking/detectors/names.ts';
import { newProfile, profileText } from '../../src/masking/text.ts';
import type { Detector } from '../../src/masking/types.ts';

/** The texts a detector finds in `text` (empty when its pre-filter declines the value). */
export function findIn(detector: BuiltinDetectorName | Detector, text: string): string[] {
  const d = typeof detector === 'string' ? BUILTIN[detector] : detector;
  const out: string[] = [];
  if (!d.wants(profileText(text, newProfile()))) return out;
  d.find(text, { add: (s, e) => void out.push(text.slice(s, e)) });
  return out;
}

export const KEY = Buffer.alloc(32, 7);
