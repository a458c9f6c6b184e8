// The decision of one statement in a MySQL session: the SQL read by the upstream's dialect
// with the session's sql_mode and database, the gate's decision, then masking's own check.
// Masks are applied by lineage in the PostgreSQL adapter; here a result that a mask would
// have to change is refused before it runs (fail closed), and a statement the masks cannot
// reach (what built-in credential masks give most statements) runs as it is.
import type { SqlAction } from '../../core/action.ts';
import type { Decision } from '../../core/decision.ts';
import { GatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import type { MaskPlanner } from '../../masking/plan.ts';
import { statementMasking, type MaskingRelations } from '../../masking/statement.ts';
import type { Gate, SessionRef } from '../../pipeline/gate.ts';
import type { GateDecision } from '../../pipeline/permit.ts';
import { createRelationCatalog } from '../../sql/relation-catalog.ts';
import { mayChangeSqlMode, sqlAction, type SessionSql } from './to-action.ts';

/** No relation catalog is read from MySQL servers yet: lineage resolves names only. */
const NO_RELATIONS: MaskingRelations = { catalog: createRelationCatalog([]) };

export interface StatementGateOptions {
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
  #sql: SessionSql;
  #checking: SqlAction | undefined = undefined;
  /** An allowed statement may have changed sql_mode or the database: the session reads them again. */
  #stale = false;

  constructor(opts: StatementGateOptions, sql: SessionSql) {
    this.#identity = opts.identity;
    this.#ref = opts.ref;
    this.#gate = opts.gate;
    this.#masks = opts.masks;
    this.#unknownLineage = opts.unknownLineage;
    this.#sql = sql;
  }

  get stale(): boolean {
    return this.#stale;
  }

  /** What the session read back from the server (internal query). */
  refreshed(sqlMode: string | undefined, database: string | undefined): void {
    this.#sql = { ...this.#sql, sqlMode, database };
    this.#stale = false;
  }

  analyse(sql: string): SqlAction {
    return sqlAction(this.#sql, sql);
  }

  decide(action: SqlAction): GateDecision {
    this.#checking = action;
    return this.#gate.decide(this.#identity, this.#ref, action, this.#maskCheck);
  }

  readonly #maskCheck = (decision: Decision): GatewayError | undefined => {
    if (decision.masks.length === 0) return undefined;
    const plan = this.#masks.plan(decision.masks);
    const action = this.#checking;
    if (plan.empty || action === undefined) return undefined;
    if (plan.scanner !== undefined) return new GatewayError('PCS_MYSQL_MASK_UNSUPPORTED', { reason: 'content detectors apply to this connection, and MySQL rows are not scanned yet' });
    let stmt;
    try {
      stmt = statementMasking(this.#sql.dialect, action, plan, NO_RELATIONS, this.#sql.database !== undefined ? [this.#sql.database] : [], { unknownLineage: this.#unknownLineage, pathMayMove: action.statements.length > 1 });
    } catch {
      return new GatewayError('PCS_MYSQL_MASK_UNSUPPORTED', { reason: 'the lineage of its output columns could not be read' });
    }
    if (stmt === undefined) return undefined;
    if (stmt.refusal !== undefined) return stmt.refusal;
    if (stmt.inert) return undefined;
    const masked = stmt.results.flat().find((m) => m !== undefined);
    return new GatewayError('PCS_MYSQL_MASK_UNSUPPORTED', { reason: masked !== undefined ? `an output column is masked (${masked.why})` : 'its output reaches masked relations' });
  };

  /** An allowed statement went upstream: what it may change for later decisions. */
  allowed(action: SqlAction): void {
    if (action.statements.some((s) => s.command === 'use') || mayChangeSqlMode(action)) this.#stale = true;
  }

  /** COM_INIT_DB / COM_RESET_CONNECTION went upstream. */
  databaseMayHaveChanged(): void {
    this.#stale = true;
  }
}
