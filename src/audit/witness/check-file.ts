// `audit verify --witness FILE`: every head a witness file holds is compared with the chain.
// A head whose seq the chain does not reach, or whose hash differs from the record at that seq,
// shows records removed or rewritten after they were signed: the truncation that the chain's own
// checkpoints cannot show (the attacker deletes them with the records).
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { Store } from '../../store/store.ts';
import { checkpointSignatureValid } from '../checkpoint.ts';
import { publicKeyId } from '../signing-key.ts';
import { compareHead } from './compare.ts';
import { parseWitnessLine, type WitnessHead } from './witness.ts';

export interface WitnessProblem {
  /** 1-based line of the witness file. */
  readonly line: number;
  readonly seq: number;
  readonly problem: 'store_behind' | 'record_missing' | 'hash_differs' | 'forged_line';
  readonly detail: string;
}

export interface WitnessFileResult {
  readonly ok: boolean;
  /** Witness lines read (other lines, such as a collector's own messages, are left out). */
  readonly heads: number;
  /** Heads signed by a key verify was not given: compared with the chain, signature unchecked. */
  readonly unchecked: number;
  readonly lastWitnessSeq: number;
  readonly storeSeq: number;
  readonly problems: readonly WitnessProblem[];
}

/** The witness heads of a file with their line numbers, in file order. */
function readHeads(path: string): { line: number; head: WitnessHead }[] {
  const out: { line: number; head: WitnessHead }[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (text.trim() === '') return;
      const head = parseWitnessLine(text);
      if (typeof head !== 'string') out.push({ line: i + 1, head });
    });
  return out;
}

export async function checkWitnessFile(store: Pick<Store, 'audit'>, path: string, publicKey: KeyObject | readonly KeyObject[]): Promise<WitnessFileResult> {
  const keys = new Map<string, KeyObject>();
  for (const key of Array.isArray(publicKey) ? publicKey : [publicKey]) keys.set(publicKeyId(key), key);
  const heads = readHeads(path);
  const storeSeq = (await store.audit.head())?.seq ?? 0;
  const problems: WitnessProblem[] = [];
  let unchecked = 0;
  let lastWitnessSeq = 0;
  for (const { line, head } of heads) {
    const key = keys.get(head.keyId);
    if (!key) unchecked++;
    else if (!checkpointSignatureValid(head.seq, head.hash, head.signature, key)) {
      // Whoever can append to the witness could write this line: it proves nothing either way.
      problems.push({ line, seq: head.seq, problem: 'forged_line', detail: `line ${line} (seq ${head.seq}) names key ${head.keyId} but its signature does not verify` });
      continue;
    }
    lastWitnessSeq = Math.max(lastWitnessSeq, head.seq);
    const disagreement = await compareHead(store.audit, head, storeSeq);
    if (disagreement !== undefined) problems.push({ line, seq: head.seq, problem: disagreement.problem, detail: `line ${line}: ${disagreement.detail}` });
  }
  return { ok: problems.length === 0, heads: heads.length, unchecked, lastWitnessSeq, storeSeq, problems };
}
