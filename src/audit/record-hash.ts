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
import { canonicalJson } from '../util/canonical-json.ts';

export { canonicalJson };

export const GENESIS_HASH = '0'.repeat(64);

export interface HashedFields {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly actor: string;
  readonly data: unknown;
  readonly prevHash: string;
}

export function recordHash(r: HashedFields): string {
  return recordHashOfText(r.seq, r.at, r.type, r.actor, canonicalJson(r.data), r.prevHash);
}

/**
 * The same hash from `data` already in canonical text (as the writer has it): the members of
 * the hashed object in their canonical order (actor, at, data, prev_hash, seq, type), so the
 * data is not canonicalised a second time per record.
 */
export function recordHashOfText(seq: number, at: number, type: string, actor: string, dataText: string, prevHash: string): string {
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(at)) throw new TypeError('seq and at must be integers');
  const hashed = `{"actor":${JSON.stringify(actor)},"at":${at},"data":${dataText},"prev_hash":${JSON.stringify(prevHash)},"seq":${seq},"type":${JSON.stringify(type)}}`;
  return createHash('sha256').update(hashed, 'utf8').digest('hex');
}
