// The audit log's rules for the store's append transaction (see AuditChainRules): how a
// checked event becomes canonical, how records are hash-chained after the head the store read
// under its write lock, and how a checkpoint is signed. A store whose writes run in another
// thread imports this module there, by its URL (CHAIN_RULES_URL), so it must stay light.
import type { KeyObject } from 'node:crypto';
import type { AuditChainRules, AuditRow, ChainHead, PreparedEvent } from '../store/repositories/audit.ts';
import { signCheckpoint } from './checkpoint.ts';
import { canonicalEvent } from './event-guard.ts';
import { GENESIS_HASH, recordHashOfText } from './record-hash.ts';

export const CHAIN_RULES_URL = import.meta.url;

function link(head: ChainHead | undefined, events: readonly PreparedEvent[], checkpointEvery: number): { rows: AuditRow[]; checkpoints: ChainHead[]; head: ChainHead } {
  const rows: AuditRow[] = [];
  const checkpoints: ChainHead[] = [];
  let last = head ?? { seq: 0, hash: GENESIS_HASH };
  for (const event of events) {
    const seq = last.seq + 1;
    const at = Date.now();
    const hash = recordHashOfText(seq, at, event.type, event.actor, event.dataText, last.hash);
    rows.push({ seq, at, type: event.type, actor: event.actor, data: event.dataText, prevHash: last.hash, hash });
    if (seq % checkpointEvery === 0) checkpoints.push({ seq, hash });
    last = { seq, hash };
  }
  return { rows, checkpoints, head: last };
}

export const auditChainRules: AuditChainRules = {
  prepare: canonicalEvent,
  link,
  sign: (head: ChainHead, privateKey: KeyObject) => signCheckpoint(head.seq, head.hash, privateKey),
};
