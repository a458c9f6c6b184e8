// Collects what one statement touches: relations (with read/write access) and called functions,
// by walking every nested object and array of the AST, so subqueries, CTEs, joins, LATERAL,
// defaults and function arguments are all covered without listing where they may occur.
// Node types only matter where the grammar gives meaning the walk cannot infer: write targets,
// CTE scoping, function calls, and statements that run other statements (EXECUTE).
import type { SqlRelation } from '../../core/action.ts';
import { isObject, names, str, unwrap, type JsonObject } from './ast.ts';

type Access = SqlRelation['access'];

/** Fields whose relations are written (or whose definition changes), per node type. */
const WRITE_TARGETS: Readonly<Record<string, readonly string[]>> = {
  InsertStmt: ['relation'],
  UpdateStmt: ['relation'],
  DeleteStmt: ['relation'],
  MergeStmt: ['relation'],
  TruncateStmt: ['relations'],
  LockStmt: ['relations'],
  SelectStmt: ['intoClause'],
  CreateTableAsStmt: ['into'],
  CreateStmt: ['relation'],
  AlterTableStmt: ['relation'],
  IndexStmt: ['relation'],
  ViewStmt: ['view'],
  RenameStmt: ['relation'],
  AlterObjectSchemaStmt: ['relation'],
  CreateTrigStmt: ['relation'],
  RuleStmt: ['relation'],
  CreatePolicyStmt: ['table'],
  AlterPolicyStmt: ['table'],
  RefreshMatViewStmt: ['relation'],
  CreateSeqStmt: ['sequence'],
  AlterSeqStmt: ['sequence'],
  GrantStmt: ['objects'],
};

const NO_TARGETS: readonly string[] = [];
const COPY_FROM_TARGETS: readonly string[] = ['relation'];

/** Statements that modify data wherever they appear (a data-modifying CTE makes a SELECT write). */
const DATA_MODIFYING = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/** DROP of these object types names relations (as lists of strings, not RangeVars). */
const DROPPED_RELATIONS = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_SEQUENCE', 'OBJECT_FOREIGN_TABLE', 'OBJECT_INDEX']);

const EMPTY_SCOPE: ReadonlySet<string> = new Set();

export class StatementWalker {
  /** Schema-qualified name -> access; write wins over read for a relation seen both ways. */
  readonly relations = new Map<string, Access>();
  /** Lower-case dotted names, for policies' `functions` globs. */
  readonly functions = new Set<string>();
  /** The same calls as parsed (exact case, one entry per name part), for their effects. */
  readonly calls = new Map<string, readonly string[]>();
  /** A data-modifying statement occurs somewhere (also inside a CTE or COPY query). */
  writes = false;
  /** The prepared statement an EXECUTE somewhere runs: only the session knows what it is. */
  executes: string | undefined;

  constructor(private readonly defaultSchema: string) {}

  walk(value: unknown, scope: ReadonlySet<string> = EMPTY_SCOPE, access: Access = 'read'): void {
    if (Array.isArray(value)) {
      for (const item of value) this.walk(item, scope, access);
      return;
    }
    if (!isObject(value)) return;
    const node = unwrap(value);
    if (node !== undefined) return this.node(node[0], node[1], scope, access);
    // A bare RangeVar in a typed field (InsertStmt.relation, IntoClause.rel...).
    if (typeof value.relname === 'string') return this.relation(value, scope, access);
    // Other bare bodies (IntoClause, a set operation's larg/rarg) inherit the access.
    this.fields(value, NO_TARGETS, scope, access);
  }

  private node(type: string, body: JsonObject, scope: ReadonlySet<string>, access: Access): void {
    switch (type) {
      case 'RangeVar':
        return this.relation(body, scope, access);
      case 'FuncCall': {
        const parts = names(body.funcname);
        const exact = parts.join('.');
        this.functions.add(exact.toLowerCase());
        this.calls.set(exact, parts);
        return this.fields(body, NO_TARGETS, scope, 'read');
      }
      case 'CallStmt':
        return this.node('FuncCall', isObject(body.funccall) ? body.funccall : {}, scope, 'read');
      case 'ExecuteStmt':
        this.executes = str(body.name) ?? '';
        return this.fields(body, NO_TARGETS, scope, 'read');
      case 'CopyStmt':
        return this.fields(body, body.is_from === true ? COPY_FROM_TARGETS : NO_TARGETS, scope, 'read');
      case 'DropStmt':
        this.dropped(body);
        return this.fields(body, NO_TARGETS, scope, 'read');
      default:
        if (DATA_MODIFYING.has(type)) this.writes = true;
        // Inside a typed node, access starts over as read except in its write targets.
        return this.fields(body, WRITE_TARGETS[type] ?? NO_TARGETS, scope, 'read');
    }
  }

  private fields(body: JsonObject, targets: readonly string[], scope: ReadonlySet<string>, access: Access): void {
    const inner = isObject(body.withClause) ? this.withClause(body.withClause, scope) : scope;
    for (const key in body) {
      if (key === 'withClause') continue;
      // A write target is always a real relation: INSERT INTO x never means a CTE named x.
      if (targets.includes(key)) this.walk(body[key], EMPTY_SCOPE, 'write');
      else this.walk(body[key], inner, access);
    }
  }

  /**
   * CTE names hide relations of the same name, but only where PostgreSQL makes them visible:
   * in WITH RECURSIVE every CTE sees all names; otherwise a CTE sees only the ones before it
   * (so `WITH t AS (SELECT * FROM t)` still reads the real table t). The main query sees all.
   */
  private withClause(clause: JsonObject, scope: ReadonlySet<string>): ReadonlySet<string> {
    const ctes: JsonObject[] = [];
    if (Array.isArray(clause.ctes)) {
      for (const item of clause.ctes) {
        const node = unwrap(item);
        if (node !== undefined && node[0] === 'CommonTableExpr') ctes.push(node[1]);
      }
    }
    const visible = new Set(scope);
    const recursive = clause.recursive === true;
    if (recursive) for (const cte of ctes) visible.add(str(cte.ctename) ?? '');
    for (const cte of ctes) {
      this.walk(cte.ctequery, visible, 'read'); // synchronous: done before visible grows
      if (!recursive) visible.add(str(cte.ctename) ?? '');
    }
    return visible;
  }

  private relation(rangeVar: JsonObject, scope: ReadonlySet<string>, access: Access): void {
    const relname = str(rangeVar.relname) ?? '';
    const schema = str(rangeVar.schemaname);
    if (schema === undefined && scope.has(relname)) return; // a CTE reference
    this.addRelation(`${schema ?? this.schemaFor(relname)}.${relname}`, access);
  }

  private dropped(body: JsonObject): void {
    if (!DROPPED_RELATIONS.has(str(body.removeType) ?? '') || !Array.isArray(body.objects)) return;
    for (const object of body.objects) {
      const node = unwrap(object);
      if (node === undefined || node[0] !== 'List') continue;
      const parts = names(node[1].items);
      const relname = parts[parts.length - 1] ?? '';
      this.addRelation(`${parts.length > 1 ? parts[parts.length - 2] : this.schemaFor(relname)}.${relname}`, 'write');
    }
  }

  /**
   * PostgreSQL searches pg_catalog before the search_path unless told otherwise, and every
   * catalog relation starts with pg_: an unqualified pg_* name is taken as pg_catalog's (for a
   * user table named pg_x this errs on the restrictive side of `tables` globs).
   */
  private schemaFor(relname: string): string {
    return relname.startsWith('pg_') ? 'pg_catalog' : this.defaultSchema;
  }

  private addRelation(name: string, access: Access): void {
    if (this.relations.get(name) !== 'write') this.relations.set(name, access);
  }
}
