// A masked value in the wire form its column needs. The mask itself is text (`****`,
// `j***@example.com`, `h:3f9a...`); what the client can decode depends on the column's type
// and format: text-like types take it as is, JSON needs a JSON string, arrays an array
// literal, and a binary int or date cannot hold text at all (NULL then).
import type { MaskSpec } from '../../../core/decision.ts';
import type { MaskPlan } from '../../../masking/plan.ts';

const TEXT_LIKE = new Set([25 /* text */, 1043 /* varchar */, 1042 /* bpchar */, 19 /* name */, 18 /* char */, 705 /* unknown */, 0]);
const JSON_TYPE = 114;
const JSONB_TYPE = 3802;
/** Array types PostgreSQL ships (`_text`, `_int4`...): in text format an array literal is expected. */
const ARRAY_TYPES = new Set([1000, 1001, 1002, 1003, 1005, 1007, 1009, 1014, 1015, 1016, 1021, 1022, 1028, 1041, 1115, 1182, 1183, 1185, 1187, 1231, 1270, 199, 2951, 3807, 651, 1561, 1563, 2201]);

export type ValueMasker = (value: Buffer) => Buffer | null;

/** A function that masks one column's non-null values under `rule`. */
export function valueMasker(plan: MaskPlan, rule: MaskSpec, typeOid: number, format: number): ValueMasker {
  if (rule.with === 'null') return () => null;
  const binary = format === 1;
  if (binary && !TEXT_LIKE.has(typeOid) && typeOid !== JSON_TYPE && typeOid !== JSONB_TYPE) return () => null;
  const wrap = wrapper(typeOid, binary);
  if (rule.with === 'redact') {
    // The same bytes for every value: built once (callers never modify what they get).
    const constant = wrap(plan.maskBytes(rule, Buffer.alloc(0)) ?? Buffer.alloc(0));
    return () => constant;
  }
  return (value) => {
    const masked = plan.maskBytes(rule, value);
    return masked === null ? null : wrap(masked);
  };
}

function wrapper(typeOid: number, binary: boolean): (masked: Buffer) => Buffer {
  if (typeOid === JSON_TYPE || typeOid === JSONB_TYPE) {
    const prefix = binary && typeOid === JSONB_TYPE ? Buffer.from([1]) : Buffer.alloc(0);
    return (masked) => Buffer.concat([prefix, Buffer.from(JSON.stringify(masked.toString('utf8')))]);
  }
  if (!binary && ARRAY_TYPES.has(typeOid)) {
    return (masked) => Buffer.from(`{"${masked.toString('utf8').replace(/["\\]/g, '\\$&')}"}`);
  }
  return (masked) => masked;
}

/**
 * Whether the content scanner should read values of this column: anything in text format,
 * and binary values whose bytes are text.
 */
export function scannable(typeOid: number, format: number): boolean {
  return format !== 1 || TEXT_LIKE.has(typeOid) || typeOid === JSON_TYPE || typeOid === JSONB_TYPE;
}
