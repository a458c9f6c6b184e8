// The audit log's persistence: an append-only hash chain and its signed checkpoints. What a
// record's hash is, and how an event becomes canonical, are the audit log's rules
// (src/audit/chain-rules.ts): the store runs them inside its append transaction, where the
// chain head is read under the write lock, without knowing them. A store whose writes run in
// another thread loads them there from the module URL it is given.
import type { KeyObject } from 'node:crypto';
import type { ErrorCode, ErrorParams } from '../../core/errors.ts';
import type { Logger } from '../../telemetry/logger.ts';

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** An event the audit log checked on the caller's thread; made canonical by the rules. */
export interface CheckedEvent {
  readonly type: string;
  readonly actor: string;
  /** JSON.stringify of the data (any spelling: the rules canonicalise it). */
  readonly json: string;
  /** `json` is already RFC 8785 canonical, so the rules may store it as it is. */
  readonly canonical: boolean;
}

export interface PreparedEvent {
  readonly type: string;
  readonly actor: string;
  /** Canonical JSON text, as stored. */
  readonly dataText: string;
}

/**
 * A record as stored. Values are as the database returns them (a record may have been
 * tampered with, and verification must see what is there): callers Number() the integers.
 */
export interface AuditRow {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly actor: string;
  readonly data: string;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditCheckpointRow {
  readonly seq: number;
  readonly at: number;
  readonly hash: string;
  readonly keyId: string;
  readonly signature: string;
}

/** Why one event of a batch was refused, in a form that crosses a thread boundary. */
export interface EventRefusal {
  readonly code: ErrorCode;
  readonly params: ErrorParams;
}

export interface Signer {
  readonly privateKey: KeyObject;
  readonly keyId: string;
}

/** The audit log's rules, run by the store inside its append transaction. */
export interface AuditChainRules {
  /** The canonical form of `event`; throws a GatewayError when it is refused. */
  prepare(event: CheckedEvent): PreparedEvent;
  /** The rows that append `events` after `head` (undefined: an empty chain), the checkpoints due, and the new head. */
  link(head: ChainHead | undefined, events: readonly PreparedEvent[], checkpointEvery: number): { rows: AuditRow[]; checkpoints: ChainHead[]; head: ChainHead };
  /** The signature of a checkpoint at `head`. */
  sign(head: ChainHead, privateKey: KeyObject): string;
}

export interface AuditChainOptions {
  readonly signer: Signer;
  /** Sign a checkpoint at every record whose seq is a multiple of this. */
  readonly checkpointEvery: number;
  /** URL of a module that exports `auditChainRules: AuditChainRules`. */
  readonly rules: string;
  readonly logger: Logger;
}

/** What one append transaction committed: per event, undefined or why it was refused; the checkpoints it signed. */
export interface ChainAppendResult {
  readonly refusals: (EventRefusal | undefined)[];
  /** Checkpoints this writer signed in the transaction (one per `checkpointEvery` records), in seq order. */
  readonly checkpoints: AuditCheckpointRow[];
  /** The chain head after the transaction. */
  readonly head: ChainHead | undefined;
}

/** Where one audit log's appends go. */
export interface AuditChainWriter {
  /** Runs what it is handed in the order handed: no need to wait for one write before handing the next. */
  readonly ordered: boolean;
  /**
   * Canonicalise and append the valid events in one transaction (retrying races with other
   * writers). Rejects with PCS_AUDIT_WRITE_FAILED when nothing was committed.
   */
  append(events: readonly CheckedEvent[]): Promise<ChainAppendResult>;
  /** Sign the latest record unless it already has a checkpoint: the checkpoint signed, if any. */
  checkpoint(): Promise<AuditCheckpointRow | undefined>;
  close(): Promise<void>;
}

export interface AuditRepository {
  /** The last record's seq and hash; undefined for an empty chain. */
  head(): Promise<ChainHead | undefined>;
  lastCheckpoint(): Promise<{ seq: number; keyId: string } | undefined>;
  /** Records with seq above `after`, in seq order. */
  records(filter: { readonly after: number | undefined; readonly limit: number; readonly type?: string }): Promise<AuditRow[]>;
  /** Every checkpoint, in seq order. */
  checkpoints(): Promise<AuditCheckpointRow[]>;
  openChain(opts: AuditChainOptions): Promise<AuditChainWriter>;
}
