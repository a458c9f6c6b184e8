// At start, a readable witness (a file) is compared with the store: a store that ends before the
// last head the witness holds, or holds another hash at that seq, lost or rewrote records that
// were signed. The gateway then logs an error, records an `audit.witness_mismatch` event (so the
// problem is in the audit log itself), and keeps the witness from ever going backwards.
import type { KeyObject } from 'node:crypto';
import type { AuditRepository } from '../../store/repositories/audit.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { checkpointSignatureValid } from '../checkpoint.ts';
import { compareHead, type HeadDisagreement } from './compare.ts';
import { isReadable, type Witness, type WitnessHead } from './witness.ts';

/** What a witness says against the store: the data of an `audit.witness_mismatch` event. */
export interface WitnessMismatch {
  readonly witness: string;
  readonly problem: HeadDisagreement['problem'] | 'forged_line';
  readonly witness_seq: number;
  readonly store_seq: number;
  readonly detail: string;
}

/**
 * The last head of `recent` the gateway can trust: signed by its own key, or by another key it
 * cannot check (an earlier signing key). A line that claims our key with a bad signature was not
 * written by the gateway; trusting it would let anyone who can append to the witness stall it.
 */
function lastTrusted(recent: readonly WitnessHead[], publicKey: KeyObject, keyId: string): { head: WitnessHead | undefined; forged: WitnessHead[] } {
  const forged: WitnessHead[] = [];
  for (let i = recent.length - 1; i >= 0; i--) {
    const head = recent[i];
    if (head === undefined) continue;
    if (head.keyId !== keyId || checkpointSignatureValid(head.seq, head.hash, head.signature, publicKey)) return { head, forged };
    forged.push(head);
  }
  return { head: undefined, forged };
}

export async function checkWitnesses(repo: AuditRepository, witnesses: readonly Witness[], publicKey: KeyObject, keyId: string, logger: Logger): Promise<WitnessMismatch[]> {
  const found: WitnessMismatch[] = [];
  const storeHead = (await repo.head()) ?? { seq: 0, hash: '' };
  for (const w of witnesses) {
    if (!isReadable(w)) continue;
    const { head, forged } = lastTrusted(w.recent(), publicKey, keyId);
    for (const f of forged) {
      found.push({ witness: w.name, problem: 'forged_line', witness_seq: f.seq, store_seq: storeHead.seq, detail: `a line for seq ${f.seq} names key ${keyId} but its signature does not verify` });
    }
    if (!head) continue;
    w.holdAbove(head.seq);
    const disagreement = await compareHead(repo, head, storeHead.seq);
    if (disagreement !== undefined) found.push({ witness: w.name, problem: disagreement.problem, witness_seq: head.seq, store_seq: storeHead.seq, detail: disagreement.detail });
  }
  for (const m of found) logger.error({ ...m }, `audit witness does not match the store: ${m.detail}`);
  return found;
}
