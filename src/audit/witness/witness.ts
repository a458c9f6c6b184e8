// A witness holds copies of the audit chain's signed head outside the store, where the store's
// owner cannot rewrite them: records removed after the last checkpoint the store still has are
// then shown by a head the witness saw and the store no longer reaches (docs/audit.md,
// "Witnesses and truncation"). A witness gets the head only (seq, hash, signature), never a
// record's content.
import type { AuditCheckpointRow } from '../../store/repositories/audit.ts';

/** A signed checkpoint as a witness holds it: the same fields as a checkpoint row. */
export type WitnessHead = AuditCheckpointRow;

/** Counts per witness, for the metrics and the log. */
export interface WitnessStats {
  /** Heads delivered (written, posted, sent). */
  delivered: number;
  /** Heads given up on (after the retries a witness makes). */
  failed: number;
  /** Attempts repeated after a failure. */
  retried: number;
  /** Heads not sent because the witness already holds a later one (it never goes backwards). */
  skipped: number;
}

export function newStats(): WitnessStats {
  return { delivered: 0, failed: 0, retried: 0, skipped: 0 };
}

export interface Witness {
  /** What the log and the metrics call it: `file:/path`, `webhook:host`, `syslog:udp:host:port`. */
  readonly name: string;
  readonly stats: WitnessStats;
  /** Hand over a new head. Never throws and never waits: delivery happens in the background. */
  publish(head: WitnessHead): void;
  /** Deliver what is pending (giving up at `deadline`, epoch ms) and release the resources. */
  close(deadline: number): Promise<void>;
}

/** A witness that can be read back (a file): the heads it holds, last ones last. */
export interface ReadableWitness extends Witness {
  /** The heads of the file's tail, in file order; lines that are not witness lines are left out. */
  recent(): readonly WitnessHead[];
  /** Never write a head at or below this seq (a later head is already held, or was). */
  holdAbove(seq: number): void;
}

export function isReadable(w: Witness): w is ReadableWitness {
  return typeof (w as Partial<ReadableWitness>).recent === 'function';
}

/** Marks the JSON object of a witness line (a syslog collector may add its own prefix). */
export const WITNESS_KIND = 'portcullis.audit.head';

/** One witness line: JSON text with a fixed key order, no newline. */
export function witnessLine(head: WitnessHead): string {
  return JSON.stringify({ kind: WITNESS_KIND, v: 1, seq: head.seq, hash: head.hash, at: head.at, key_id: head.keyId, signature: head.signature });
}

const HASH = /^[0-9a-f]{64}$/;

/**
 * The head of one witness line, or why it is not one. The JSON object may follow a prefix (the
 * header a syslog collector writes before the message).
 */
export function parseWitnessLine(line: string): WitnessHead | string {
  const start = line.indexOf('{');
  if (start < 0) return 'it is not a witness line (no JSON object)';
  let value: unknown;
  try {
    value = JSON.parse(line.slice(start));
  } catch {
    return 'it is not a witness line (not valid JSON)';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'it is not a witness line (not a JSON object)';
  const o = value as Record<string, unknown>;
  if (o['kind'] !== WITNESS_KIND) return `it is not a witness line (kind is not ${WITNESS_KIND})`;
  const { seq, hash, at, key_id: keyId, signature } = o;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'its seq is not a positive integer';
  if (typeof hash !== 'string' || !HASH.test(hash)) return 'its hash is not 64 lowercase hex characters';
  if (typeof at !== 'number' || !Number.isSafeInteger(at)) return 'its at is not an integer';
  if (typeof keyId !== 'string' || typeof signature !== 'string') return 'its key_id or signature is missing';
  return { seq, hash, at, keyId, signature };
}
