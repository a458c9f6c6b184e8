// The decision of one statement in a session: the SQL read with the session's search_path and
// function catalog, the gate's decision, then masking's own check of it (a predicate on a
// masked column, a laundering write, a COPY it cannot read), which can turn an allowed
// statement into a denial. What an allowed statement changes for the decisions after it
// (SQL-level prepared statements, `portcullis.reason`, the catalogs after DDL) is kept here.
// A MySQL session has the same part with its own dialect.
import type { SqlAction, SqlStatement } from '../../core/action.ts';
import type { Decision } from '../../core/decision.ts';
import { GatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import type { MaskPlanner } from '../../masking/plan.ts';
import { statementMasking, type StatementMasking } from '../../masking/statement.ts';
import type { Gate, SessionRef } from '../../pipeline/gate.ts';
import type { GateDecision, Permit } from '../../pipeline/permit.ts';
import { copyOutputFormat } from '../../sql/postgres/copy-format.ts';
import { postgresDialect } from '../../sql/postgres/dialect.ts';
import type { CatalogCache } from './catalog-cache.ts';
import type { CatalogRefresher } from './catalog-refresher.ts';
import type { RelationCache } from './masking/relations.ts';
import type { MaskContext } from './masking/slot.ts';
import { mayChangeSearchPath, sqlAction, startsCopy } from './to-action.ts';

/** `COPY ... TO STDOUT`: the rows come to the client, so a mask must be able to read them. */
const COPY_TO_CLIENT = /\bstdout\b/i;

export interface StatementGateOptions {
  readonly identity: Identity;
  readonly ref: SessionRef;
  readonly gate: Gate;
  /** User-function volatility of this session's connection. */
  readonly catalogs: CatalogCache;
  /** Relations of the connection, for masking's lineage. */
  readonly relations: RelationCache;
  readonly masks: MaskPlanner;
  readonly unknownLineage: 'mask' | 'deny';
  readonly catalog: CatalogRefresher;
  /** `portcullis.reason` given as a startup parameter: the reason until a SET replaces it. */
  readonly reason?: string | null;
}

export class StatementGate {
  readonly #identity: Identity;
  readonly #ref: SessionRef;
  readonly #gate: Gate;
  readonly #catalogs: CatalogCache;
  readonly #relations: RelationCache;
  readonly #masks: MaskPlanner;
  readonly #unknownLineage: 'mask' | 'deny';
  readonly #catalog: CatalogRefresher;
  /** SQL-level prepared statements (`PREPARE name AS ...`) that policy allowed, by name. */
  readonly #sqlPrepared = new Map<string, SqlStatement>();
  /** What each of them was allowed under: a protocol Bind to one runs under the same permit. */
  readonly #sqlPreparedPermits = new Map<string, Permit>();
  /** Their masking: their rows are traced to nothing, so fail closed. */
  readonly #sqlPreparedMasks = new Map<string, MaskContext>();
  /** The action being decided, for #maskCheck, and the masking it worked out. */
  #checking: SqlAction | undefined = undefined;
  #checked: MaskContext | undefined = undefined;
  /** Column masks traced by lineage in this session: its relations are kept fresh from then on. */
  #columnMasking = false;
  /** Column masks written in a policy applied: notification payloads are withheld from then on. */
  #withholdNotifications = false;
  /** A cursor was declared over credential material: what FETCH reads is masked as untraced. */
  #credentialsCarried = false;
  /** `SET portcullis.reason = '...'`: why the agent asks, shown to approvers. */
  #reason: string | null = null;

  constructor(opts: StatementGateOptions) {
    this.#identity = opts.identity;
    this.#ref = opts.ref;
    this.#gate = opts.gate;
    this.#catalogs = opts.catalogs;
    this.#relations = opts.relations;
    this.#masks = opts.masks;
    this.#unknownLineage = opts.unknownLineage;
    this.#catalog = opts.catalog;
    this.#reason = opts.reason ?? null;
  }

  get columnMasking(): boolean {
    return this.#columnMasking;
  }

  get withholdNotifications(): boolean {
    return this.#withholdNotifications;
  }

  get reason(): string | null {
    return this.#reason;
  }

  /** The masking the last decision worked out (undefined when none applies). */
  get checked(): MaskContext | undefined {
    return this.#checked;
  }

  analyse(sql: string): SqlAction {
    return sqlAction(sql, this.#catalog.searchPath, this.#catalogs.get(this.#ref.connection.name), this.#sqlPrepared);
  }

  /** Policy, then masking's own check (predicates, writes, COPY formats): one audited decision. */
  decide(action: SqlAction): GateDecision {
    this.#checking = action;
    this.#checked = undefined;
    return this.#gate.decide(this.#identity, this.#ref, action, this.#maskCheck);
  }

  readonly #maskCheck = (decision: Decision): GatewayError | undefined => {
    if (decision.masks.length === 0) return undefined;
    const plan = this.#masks.plan(decision.masks);
    const action = this.#checking;
    if (plan.empty || action === undefined) return undefined;
    let stmt: StatementMasking | undefined;
    if (plan.hasColumnRules) {
      this.#columnMasking = true;
      // Built-in credential masks alone do not: a payload of theirs is refused as a write (pg_notify).
      if (plan.hasConfiguredColumnRules) this.#withholdNotifications = true;
      const pathMayMove = this.#catalog.pathMayMove || (action.statements.length > 1 && mayChangeSearchPath(action));
      stmt = statementMasking(postgresDialect, action, plan, this.#catalog.snapshot, this.#catalog.searchPath, { unknownLineage: this.#unknownLineage, pathMayMove, functionCannotWrite: this.#functionCannotWrite, credentialsCarried: this.#credentialsCarried });
      if (stmt?.refusal !== undefined) return stmt.refusal;
    }
    // Built-in credential masks on a statement that never reaches them: relay as unmasked
    // (a COPY with options the gateway cannot rewrite included).
    if (stmt?.inert === true && plan.scanner === undefined) return undefined;
    if (startsCopy(action) && COPY_TO_CLIENT.test(action.text) && copyOutputFormat(action.text) === undefined) {
      return new GatewayError('PCS_MASK_COPY_UNSUPPORTED', { reason: 'one COPY ... TO STDOUT per statement text, with the options text, csv or binary allow' });
    }
    this.#checked = { plan, stmt, sql: action.text };
    return undefined;
  };

  readonly #functionCannotWrite = (name: string): boolean => {
    const catalog = this.#catalogs.get(this.#ref.connection.name);
    if (catalog === undefined) return false;
    const names = name.includes('.') ? [name] : this.#catalog.searchPath.map((schema) => `${schema}.${name}`);
    for (const n of names) {
      const v = catalog.volatility(n);
      if (v !== undefined) return v !== 'volatile';
    }
    return false;
  };

  /** An allowed statement goes upstream: what it changes for later decisions (prepared names, the catalogs, the path). */
  allowed(action: SqlAction, mask: MaskContext | undefined, permit: Permit): void {
    const copy = startsCopy(action);
    for (const s of action.statements) {
      // Sticky for the session: a WITH HOLD cursor outlives its transaction.
      if (s.command === 'declare' && mask?.stmt?.failClosed !== undefined) this.#credentialsCarried = true;
      if (s.setting?.name === 'portcullis.reason') this.#reason = s.setting.value;
      if (s.prepared) {
        this.#sqlPrepared.set(s.prepared.name, s);
        this.#sqlPreparedPermits.set(s.prepared.name, permit);
        if (mask !== undefined) this.#sqlPreparedMasks.set(s.prepared.name, { ...mask, stmt: mask.stmt === undefined ? undefined : { ...mask.stmt, results: [] } });
        else this.#sqlPreparedMasks.delete(s.prepared.name);
      }
      if (s.effect === 'ddl') {
        this.#catalogs.invalidate(this.#ref.connection.name);
        this.#relations.invalidate(this.#ref.connection.name);
        if (this.#columnMasking && !copy) this.#catalog.relationsChanged();
      }
    }
    if (!copy && mayChangeSearchPath(action)) this.#catalog.pathMoved();
  }

  /** The permit a protocol Bind to a statement made with SQL PREPARE runs under; undefined when nobody prepared it here. */
  sqlPreparedPermit(name: string): Permit | undefined {
    return this.#sqlPreparedPermits.get(name);
  }

  sqlPreparedMask(name: string): MaskContext | undefined {
    return this.#sqlPreparedMasks.get(name);
  }
}
