// Walks the whole chain in seq order, a page at a time, and names the FIRST record at which the
// stored log stops being provably what the gateway wrote. Runs read-only and can run beside a
// live gateway: appends only add rows after the ones already read.
import type { KeyObject } from 'node:crypto';
import type { AuditCheckpointRow, AuditRow } from '../store/repositories/audit.ts';
import type { Store } from '../store/store.ts';
import { checkpointSignatureValid } from './checkpoint.ts';
import { GENESIS_HASH, canonicalJson, recordHash } from './record-hash.ts';
import { publicKeyId } from './signing-key.ts';

export type VerifyResult =
  | { ok: true; records: number; checkpoints: number; lastSeq: number; lastHash: string }
  | { ok: false; seq: number; reason: string; recordsChecked: number };

const PAGE_SIZE = 1000;

type RecordRow = AuditRow;
type CheckpointRow = AuditCheckpointRow;

/** Values read from the store are attacker-controlled: keep them short and printable. */
function shown(value: unknown): string {
  const text = String(value).replace(/[^\x20-\x7e]/g, '?');
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

async function* recordsInOrder(store: Pick<Store, 'audit'>): AsyncGenerator<RecordRow> {
  let after: number | undefined;
  for (;;) {
    const page = await store.audit.records({ after, limit: PAGE_SIZE });
    yield* page;
    const last = page.at(-1);
    if (page.length < PAGE_SIZE || !last) return;
    after = Number(last.seq);
  }
}

/** Why a record's stored hash is not the hash of its content, or undefined when it is. */
function contentProblem(row: RecordRow): string | undefined {
  let data: unknown;
  try {
    data = JSON.parse(row.data);
  } catch {
    return 'its data is not valid JSON';
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return 'its data is not a JSON object';
  let hash: string;
  try {
    hash = recordHash({ seq: Number(row.seq), at: Number(row.at), type: row.type, actor: row.actor, data, prevHash: row.prevHash });
  } catch {
    return 'its content cannot be canonicalised';
  }
  if (hash !== row.hash) return 'its hash does not match its content';
  // The hash covers the parsed value; the text must be the one canonical spelling of it too.
  if (canonicalJson(data) !== row.data) return 'its data is not stored in canonical form';
  return undefined;
}

/** Why a checkpoint cannot be trusted, or undefined when its signature holds. */
function signatureProblem(cp: CheckpointRow, keys: ReadonlyMap<string, KeyObject>): string | undefined {
  const seq = shown(cp.seq);
  const key = keys.get(cp.keyId);
  if (!key) return `checkpoint at record ${seq} was signed by unknown key ${shown(cp.keyId)} (forged, or signed by a key not given to verify)`;
  if (!checkpointSignatureValid(Number(cp.seq), cp.hash, cp.signature, key)) return `checkpoint at record ${seq} is forged: its signature does not verify with key ${cp.keyId}`;
  return undefined;
}

/**
 * Verify the audit chain and its checkpoints. Several public keys may be given when the
 * signing key was replaced: each checkpoint is checked with the key its key_id names.
 */
export async function verifyAudit(store: Pick<Store, 'audit'>, publicKey: KeyObject | readonly KeyObject[]): Promise<VerifyResult> {
  const keys = new Map<string, KeyObject>();
  for (const key of Array.isArray(publicKey) ? publicKey : [publicKey]) keys.set(publicKeyId(key), key);

  // One checkpoint per N records: small enough to hold in memory beside the streamed records.
  const checkpoints = new Map<number, CheckpointRow>();
  for (const cp of await store.audit.checkpoints()) checkpoints.set(Number(cp.seq), cp);

  let prevSeq = 0;
  let prevHash = GENESIS_HASH;
  let lastTrusted = 0;
  let checkpointsOk = 0;
  const fail = (seq: number, reason: string): VerifyResult => ({ ok: false, seq, reason, recordsChecked: prevSeq });

  for await (const row of recordsInOrder(store)) {
    const seq = Number(row.seq);
    if (!Number.isSafeInteger(seq) || seq <= prevSeq) return fail(prevSeq + 1, `a row numbered ${shown(row.seq)} is out of sequence after record ${prevSeq}`);
    if (seq !== prevSeq + 1) {
      return fail(prevSeq + 1, prevSeq === 0 ? `record 1 is missing: the chain starts at ${seq}` : `record ${prevSeq + 1} is missing: the chain jumps from ${prevSeq} to ${seq}`);
    }
    const problem = contentProblem(row);
    if (problem) return fail(seq, `record ${seq} was altered: ${problem}`);
    if (row.prevHash !== prevHash) {
      return fail(seq, seq === 1 ? 'record 1 does not start the chain: its prev_hash is not the genesis value' : `record ${seq} does not follow record ${prevSeq}`);
    }

    const cp = checkpoints.get(seq);
    if (cp) {
      checkpoints.delete(seq);
      const forged = signatureProblem(cp, keys);
      if (forged) return fail(seq, forged);
      // Consistent links but a different hash than was signed: history was rewritten and
      // re-hashed somewhere after the last checkpoint that still matched.
      if (cp.hash !== row.hash) return fail(seq, `checkpoint at record ${seq} does not match the chain: one of records ${lastTrusted + 1} to ${seq} was altered and the chain re-hashed`);
      lastTrusted = seq;
      checkpointsOk++;
    }
    prevSeq = seq;
    prevHash = row.hash;
  }

  // Checkpoints left over name records that are not in the chain.
  const leftover = [...checkpoints.values()];
  for (const cp of leftover) {
    const forged = signatureProblem(cp, keys);
    if (forged) return fail(Number.isSafeInteger(Number(cp.seq)) ? Number(cp.seq) : prevSeq + 1, forged);
  }
  const strays = leftover.filter((cp) => !(Number(cp.seq) > prevSeq));
  const first = strays[0];
  if (first) return fail(prevSeq + 1, `checkpoint at record ${shown(first.seq)} does not match the chain`);
  const beyond = leftover.at(-1);
  if (beyond) return fail(prevSeq + 1, `records after ${prevSeq} were removed (checkpoint at ${shown(beyond.seq)})`);

  return { ok: true, records: prevSeq, checkpoints: checkpointsOk, lastSeq: prevSeq, lastHash: prevHash };
}
