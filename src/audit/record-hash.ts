// The hashed form of an audit record. This is the contract an outside verifier re-implements,
// so it is spelled out here and in docs/audit.md, and must never change for existing records:
//
//   hash = lowercase hex SHA-256 of the UTF-8 bytes of
//          RFC 8785 canonical JSON of {"seq", "at", "type", "actor", "data", "prev_hash"}
//
//   e.g. {"actor":"system","at":1732579200000,"data":{"version":"0.1.0"},
//         "prev_hash":"0000…0000","seq":1,"type":"gateway.started"}
//
// `data` is the JSON object stored (as canonical text) in the `data` column; `prev_hash` is the
// `hash` of record seq-1, or 64 zeros for record 1.
import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

// canonicalize 2 is CommonJS whose typings declare an ES default export; under NodeNext the
// default import is typed as the module object although at run time it is the function.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

export const GENESIS_HASH = '0'.repeat(64);

export interface HashedFields {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly actor: string;
  readonly data: unknown;
  readonly prevHash: string;
}

/** RFC 8785 text of `value`; throws on what JSON cannot carry (NaN, bigint, cycles, undefined). */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

export function recordHash(r: HashedFields): string {
  const hashed = canonicalJson({ seq: r.seq, at: r.at, type: r.type, actor: r.actor, data: r.data, prev_hash: r.prevHash });
  return createHash('sha256').update(hashed, 'utf8').digest('hex');
}
