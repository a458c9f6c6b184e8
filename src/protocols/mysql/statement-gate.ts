// The decision of one statement in a MySQL session: the SQL read by the upstream's dialect
// with the session's sql_mode and database, the gate's decision, then masking's own check (a
// predicate on a masked column, a laundering write), which can turn an allowed statement into
// a denial, and the masking its rows get (masking/result.ts).
import type { SqlAction, SqlStatement } from '../../core/action.ts';
import type { Decision } from '../../core/decision.ts';
import { CREDENTIAL_COLUMNS } from '../../core/credential-columns.ts';
import { GatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import type { MaskPlanner } from '../../masking/plan.ts';
import { statementMasking, type ColumnMask, type MaskingRelations } from '../../masking/statement.ts';
import type { Gate, SessionRef } from '../../pipeline/gate.ts';
import type { GateDecision } from '../../pipeline/permit.ts';
import { createRelationCatalog } from '../../sql/relation-catalog.ts';
import type { MaskContext } from './masking/result.ts';
import type { RelationCache, RelationSnapshot } from './masking/relations.ts';
import { mayChangeSessionReading, sqlAction, type SessionSql } from './to-action.ts';

/** `SHOW WARNINGS` / `SHOW ERRORS` (the dialect says `show`; this tells which): they read the last statement's diagnostics. */
const DIAGNOSTICS = /^\s*show\s+(count\s*\(\s*\*\s*\)\s+)?(warnings|errors)\b/i;

/** What the Message column of SHOW WARNINGS gets after a statement that read masked columns. */
const WARNING_MASK: ColumnMask = Object.freeze({ rule: Object.freeze({ with: 'redact' as const, source: 'portcullis: diagnostics of a masked statement' }), why: 'the diagnostics of a statement that read masked columns may quote a value' });

/** Statements whose whole output carries credential material (core/credential-columns.ts), as the dialect's text of one statement starts. */
const CREDENTIAL_STATEMENTS = CREDENTIAL_COLUMNS.mysql.statements.map((s) => new RegExp(`^\\s*${s.split(' ').join('\\s+')}\\b`, 'i'));

/** What every column of such a statement's output gets while the built-in credential masks apply. */
const CREDENTIAL_OUTPUT_MASK: ColumnMask = Object.freeze({ rule: Object.freeze({ with: 'redact' as const, source: 'built-in credential masks' }), why: 'the output of this statement carries credential material' });

/** Before the catalog is read (no column masks, or the read failed): lineage resolves names only. */
const NO_RELATIONS: MaskingRelations = { catalog: createRelationCatalog([]) };

export interface StatementGateOptions {
  /** Relations of the connection, for masking's lineage (a snapshot per login; stale after DDL). */
  readonly relations: RelationCache;
  readonly identity: Identity;
  readonly ref: SessionRef;
  readonly gate: Gate;
  readonly masks: MaskPlanner;
  readonly unknownLineage: 'mask' | 'deny';
}

export class StatementGate {
  readonly #identity: Identity;
  readonly #ref: SessionRef;
  readonly #gate: Gate;
  readonly #masks: MaskPlanner;
  readonly #unknownLineage: 'mask' | 'deny';
  readonly #relations: RelationCache;
  #sql: SessionSql;
  /** An allowed DDL changed the relations lineage reads: the session reads them again. */
  #relationsChanged = false;
  #checking: SqlAction | undefined = undefined;
  #checked: MaskContext | undefined = undefined;
  /** SQL-level prepared statements (`PREPARE name FROM '...'`) that policy allowed: `EXECUTE name` is decided as what they run. */
  readonly #sqlPrepared = new Map<string, SqlStatement>();
  /** The last statement read masked columns: its warnings and errors are masked when asked for. */
  #maskedDiagnostics: MaskContext | undefined = undefined;
  /** An allowed statement may have changed sql_mode or the database: the session reads them again. */
  #stale = false;

  constructor(opts: StatementGateOptions, sql: SessionSql) {
    this.#identity = opts.identity;
    this.#ref = opts.ref;
    this.#gate = opts.gate;
    this.#masks = opts.masks;
    this.#unknownLineage = opts.unknownLineage;
    this.#relations = opts.relations;
    this.#sql = sql;
  }

  /** The session's current database, as last read back. */
  get database(): string | undefined {
    return this.#sql.database;
  }

  get stale(): boolean {
    return this.#stale;
  }

  /** What the session read back from the server (internal query). */
  refreshed(sqlMode: string | undefined, database: string | undefined): void {
    this.#sql = { ...this.#sql, sqlMode, database };
    this.#stale = false;
  }

  /** The masking the last decision worked out (undefined: relay the rows untouched). */
  get checked(): MaskContext | undefined {
    return this.#checked;
  }

  analyse(sql: string): SqlAction {
    const action = sqlAction(this.#sql, sql);
    if (this.#sqlPrepared.size === 0 || !action.statements.some((s) => s.executes !== undefined)) return action;
    const dialect = this.#sql.dialect;
    return { ...action, statements: action.statements.map((s) => dialect.resolveExecute(s, (name) => this.#sqlPrepared.get(name))) };
  }

  decide(action: SqlAction): GateDecision {
    this.#checking = action;
    this.#checked = undefined;
    const decision = this.#gate.decide(this.#identity, this.#ref, action, this.#maskCheck);
    const masked = this.#maskedDiagnostics;
    if (masked !== undefined && decision.verdict !== 'deny' && this.#diagnostics(action)) {
      // Level and Code stay; the Message (which may quote a masked value) is redacted.
      this.#checked = { plan: masked.plan, stmt: { plan: masked.plan, results: [[undefined, undefined, WARNING_MASK]], failClosed: WARNING_MASK, refusal: undefined, sensitive: true, notes: [], inert: false } };
    }
    return decision;
  }

  readonly #maskCheck = (decision: Decision): GatewayError | undefined => {
    if (decision.masks.length === 0) return undefined;
    const plan = this.#masks.plan(decision.masks);
    const action = this.#checking;
    if (plan.empty || action === undefined) return undefined;
    let stmt;
    if (plan.hasColumnRules) {
      try {
        stmt = statementMasking(this.#sql.dialect, action, plan, this.#relations.get(this.#ref.connection.name) ?? NO_RELATIONS, this.#sql.database !== undefined ? [this.#sql.database] : [], { unknownLineage: this.#unknownLineage, pathMayMove: action.statements.length > 1, ...(this.#sql.sqlMode !== undefined ? { sqlMode: this.#sql.sqlMode } : {}) });
      } catch {
        return new GatewayError('PCS_MYSQL_MASK_UNSUPPORTED', { reason: 'the lineage of its output columns could not be read' });
      }
      if (stmt?.refusal !== undefined) return stmt.refusal;
    }
    // Even where lineage says the masks are out of reach, the rows' column definitions are read
    // (their origins): a statement the analysis could not trace to a credential relation still
    // cannot carry one out. The rows themselves are touched only when an origin is masked.
    if (plan.credentialRelations.length > 0 && action.statements.some((s) => CREDENTIAL_STATEMENTS.some((re) => re.test(s.text)))) {
      // SHOW GRANTS, SHOW CREATE USER: password hashes in the text of every row, from no column.
      this.#checked = { plan, stmt: { plan, results: [], failClosed: CREDENTIAL_OUTPUT_MASK, refusal: undefined, sensitive: true, notes: [], inert: false } };
      return undefined;
    }
    this.#checked = { plan, stmt };
    return undefined;
  };

  #diagnostics(action: SqlAction): boolean {
    const [only, ...more] = action.statements;
    return only !== undefined && more.length === 0 && only.command === 'show' && DIAGNOSTICS.test(only.text);
  }

  /** An allowed statement went upstream: what it may change for later decisions. */
  allowed(action: SqlAction, mask: MaskContext | undefined): void {
    if (!this.#diagnostics(action)) this.#maskedDiagnostics = mask?.stmt?.sensitive === true || (mask?.stmt !== undefined && !mask.stmt.inert) ? mask : undefined;
    for (const st of action.statements) {
      if (st.prepared !== undefined) this.#sqlPrepared.set(st.prepared.name, st);
      if (st.effect === 'ddl' && this.#relations.get(this.#ref.connection.name) !== undefined) {
        this.#relations.invalidate(this.#ref.connection.name);
        this.#relationsChanged = true;
      }
    }
    if (mayChangeSessionReading(action)) this.#stale = true;
  }

  /** The column definitions' origins masked a column lineage did not: the result's diagnostics are masked too. */
  maskedByOrigin(mask: MaskContext): void {
    this.#maskedDiagnostics = mask;
  }

  /** Whether the relations must be read again (once: the flag is taken). */
  takeRelationsChanged(): boolean {
    const changed = this.#relationsChanged;
    this.#relationsChanged = false;
    return changed;
  }

  /** The session read the relations again: they serve every session of the connection. */
  relationsRead(snapshot: RelationSnapshot): void {
    this.#relations.set(this.#ref.connection.name, snapshot);
  }

  /** COM_INIT_DB went upstream. */
  databaseMayHaveChanged(): void {
    this.#stale = true;
  }

  /** COM_RESET_CONNECTION: the server forgets its SQL-level prepared statements and session state. */
  reset(): void {
    this.#sqlPrepared.clear();
    this.#maskedDiagnostics = undefined;
    this.#stale = true;
  }
}
