// One witnessed head against the chain: the comparison the start-up check and `audit verify
// --witness` both make. A head the chain does not reach, or whose record is gone or has
// another hash, shows records removed or rewritten after they were signed.
import type { AuditRepository } from '../../store/repositories/audit.ts';
import type { WitnessHead } from './witness.ts';

export interface HeadDisagreement {
  readonly problem: 'store_behind' | 'record_missing' | 'hash_differs';
  readonly detail: string;
}

/** Undefined when the chain (ending at `storeSeq`) holds the head's record with its hash. */
export async function compareHead(repo: Pick<AuditRepository, 'records'>, head: WitnessHead, storeSeq: number): Promise<HeadDisagreement | undefined> {
  if (head.seq > storeSeq) return { problem: 'store_behind', detail: `the chain ends at record ${storeSeq}, but the witness saw record ${head.seq} signed: records after ${storeSeq} were removed` };
  const [row] = await repo.records({ after: head.seq - 1, limit: 1 });
  if (!row || Number(row.seq) !== head.seq) return { problem: 'record_missing', detail: `record ${head.seq}, which the witness saw signed, is missing from the chain` };
  if (row.hash !== head.hash) return { problem: 'hash_differs', detail: `record ${head.seq} has another hash than the witness saw: it was rewritten` };
  return undefined;
}
