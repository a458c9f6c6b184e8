// A validated `masks` entry of a policy -> the MaskSpec its decisions carry. Policy compiles
// masks the way it compiles rules; masking only reads the result (core/decision.ts), so the
// two layers need not import each other.
import { CREDENTIAL_COLUMNS, credentialMaskSource, type CredentialDialect } from '../core/credential-columns.ts';
import type { MaskSpec } from '../core/decision.ts';
import type { PolicyConfig } from '../config/schema.ts';

export type MaskEntryConfig = PolicyConfig['masks'][number];

/** The rule for a validated entry; `name` and `pattern` only for custom detectors. */
export function maskRuleFromConfig(m: MaskEntryConfig, source?: string): MaskSpec {
  return Object.freeze({
    ...(source !== undefined ? { source } : {}),
    ...(m.column !== undefined ? { column: m.column } : {}),
    ...(m.detector !== undefined ? { detector: m.detector } : {}),
    ...(m.json !== undefined ? { json: m.json } : {}),
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.pattern !== undefined ? { pattern: m.pattern } : {}),
    with: m.with,
    denyInPredicates: m.deny_in_predicates ?? false,
  });
}

/**
 * The built-in credential masks of a dialect, less those a policy reveals. `redact` (a verifier
 * has no useful shape) and refused in predicates (`WHERE rolpassword LIKE 'SCRAM%'` would
 * read it bit by bit).
 */
export function credentialMasks(dialect: CredentialDialect, reveal: readonly string[]): readonly MaskSpec[] {
  const out: MaskSpec[] = [];
  for (const { column } of CREDENTIAL_COLUMNS[dialect].columns) {
    if (reveal.includes(column)) continue;
    out.push(Object.freeze({ source: credentialMaskSource(column), column, with: 'redact', denyInPredicates: true, builtin: true }));
  }
  return Object.freeze(out);
}
