// Statement type -> command class and effect of the command itself, the vocabulary of
// `match.sql.command/effect` (the functions a statement calls may make its effect worse:
// analyze-postgres.ts). What is not listed here is `unknown` (fail closed): a new PostgreSQL
// statement type must be classified on purpose before a policy can allow it.
import type { SqlEffect, SqlStatement } from '../../core/action.ts';
import { isObject, str, unwrap, type JsonObject } from './ast.ts';
import { classifySetting } from './settings.ts';
import type { StatementWalker } from './walk.ts';

export interface Classification {
  readonly command: string;
  readonly effect: SqlEffect;
  readonly error?: string;
  /** EXPLAIN without ANALYZE plans but runs nothing: its relations are all read, its functions do not run. */
  readonly readOnlyRelations?: boolean;
  readonly setting?: SqlStatement['setting'];
  readonly prepared?: string;
  readonly executes?: string;
  readonly unbounded?: boolean;
}

export const EXECUTE_ERROR = 'EXECUTE of a prepared statement is resolved by the session';

type Fixed = readonly [command: string, effect: SqlEffect];

const FIXED: Readonly<Record<string, Fixed>> = {
  InsertStmt: ['insert', 'write'],
  MergeStmt: ['merge', 'write'],
  TruncateStmt: ['truncate', 'write'],
  LockStmt: ['lock', 'write'],
  RefreshMatViewStmt: ['refresh', 'write'],
  // NOTIFY signals every listening session.
  NotifyStmt: ['notify', 'write'],
  FetchStmt: ['fetch', 'read'],
  MoveStmt: ['move', 'read'],

  CreateStmt: ['create', 'ddl'],
  CreateTableAsStmt: ['create', 'ddl'],
  IndexStmt: ['create', 'ddl'],
  ViewStmt: ['create', 'ddl'],
  DefineStmt: ['create', 'ddl'],
  CompositeTypeStmt: ['create', 'ddl'],
  RuleStmt: ['create', 'ddl'],
  CreatedbStmt: ['create', 'ddl'],
  DropdbStmt: ['drop', 'ddl'],
  AlterObjectSchemaStmt: ['alter', 'ddl'],
  RenameStmt: ['rename', 'ddl'],
  CommentStmt: ['comment', 'ddl'],
  ImportForeignSchemaStmt: ['import', 'ddl'],

  // Who may do what: roles, grants, ownership, row-level security.
  CreateRoleStmt: ['create_role', 'privilege'],
  AlterRoleStmt: ['alter_role', 'privilege'],
  AlterRoleSetStmt: ['alter_role', 'privilege'],
  DropRoleStmt: ['drop_role', 'privilege'],
  AlterDefaultPrivilegesStmt: ['alter_default_privileges', 'privilege'],
  ReassignOwnedStmt: ['reassign_owned', 'privilege'],
  DropOwnedStmt: ['drop_owned', 'privilege'],
  AlterOwnerStmt: ['alter_owner', 'privilege'],
  CreatePolicyStmt: ['create_policy', 'privilege'],
  AlterPolicyStmt: ['alter_policy', 'privilege'],
  SecLabelStmt: ['security_label', 'privilege'],

  // Transaction control and session housekeeping change no data: read.
  VariableShowStmt: ['show', 'read'],
  ListenStmt: ['listen', 'read'],
  UnlistenStmt: ['unlisten', 'read'],
  DeallocateStmt: ['deallocate', 'read'],
  ClosePortalStmt: ['close', 'read'],
  ConstraintsSetStmt: ['set_constraints', 'read'],

  // Arbitrary code: DO blocks (EXECUTE of any string inside) and procedures, which have no
  // volatility to go by.
  DoStmt: ['do', 'unknown'],
  CallStmt: ['call', 'unknown'],
  // The server's file system, configuration, maintenance, extensions or other servers.
  ClusterStmt: ['cluster', 'admin'],
  ReindexStmt: ['reindex', 'admin'],
  CheckPointStmt: ['checkpoint', 'admin'],
  LoadStmt: ['load', 'admin'],
  AlterSystemStmt: ['alter_system', 'admin'],
  CreateExtensionStmt: ['create_extension', 'admin'],
  AlterExtensionStmt: ['alter_extension', 'admin'],
  AlterExtensionContentsStmt: ['alter_extension', 'admin'],
  CreateTableSpaceStmt: ['create_tablespace', 'admin'],
  CreateFdwStmt: ['create_foreign_data_wrapper', 'admin'],
  CreateForeignServerStmt: ['create_server', 'admin'],
  CreateUserMappingStmt: ['create_user_mapping', 'admin'],
  AlterUserMappingStmt: ['alter_user_mapping', 'admin'],
  CreateSubscriptionStmt: ['create_subscription', 'admin'],
  AlterSubscriptionStmt: ['alter_subscription', 'admin'],
};

const TRANSACTION_COMMANDS: Readonly<Record<string, string>> = {
  TRANS_STMT_BEGIN: 'begin',
  TRANS_STMT_START: 'begin',
  TRANS_STMT_COMMIT: 'commit',
  TRANS_STMT_ROLLBACK: 'rollback',
  TRANS_STMT_SAVEPOINT: 'savepoint',
  TRANS_STMT_RELEASE: 'release',
  TRANS_STMT_ROLLBACK_TO: 'rollback_to',
  TRANS_STMT_PREPARE: 'prepare_transaction',
  TRANS_STMT_COMMIT_PREPARED: 'commit_prepared',
  TRANS_STMT_ROLLBACK_PREPARED: 'rollback_prepared',
};

const FALSE_WORDS = new Set(['false', 'off', 'no', '0']);

function unknown(error: string): Classification {
  return { command: 'unknown', effect: 'unknown', error };
}

/** A DefElem argument's body: `{ sval }`, `{ ival }` (0 omitted), `{ boolval }`, or an A_Const wrapping one. */
function optionValue(body: JsonObject): string {
  for (const key of ['sval', 'ival', 'boolval'] as const) {
    const v = body[key];
    if (isObject(v)) return optionValue(v);
    if (v !== undefined) return String(v);
  }
  // `{ Integer: {} }`: the grammar omits a zero.
  return '0';
}

/** EXPLAIN (ANALYZE) / EXPLAIN ANALYZE: the option is on unless given a false value. */
function explainAnalyzes(options: unknown): boolean {
  if (!Array.isArray(options)) return false;
  for (const option of options) {
    const node = unwrap(option);
    if (node === undefined || node[0] !== 'DefElem' || node[1].defname !== 'analyze') continue;
    const arg = unwrap(node[1].arg);
    const value = arg === undefined ? undefined : optionValue(arg[1]);
    return value === undefined || !FALSE_WORDS.has(value.toLowerCase());
  }
  return false;
}

function classifyInner(query: unknown, walker: StatementWalker): Classification {
  const node = unwrap(query);
  return node === undefined ? unknown('statement without a body') : classify(node[0], node[1], walker);
}

function classifySelect(body: JsonObject, walker: StatementWalker): Classification {
  // SELECT INTO creates a table, as CREATE TABLE AS does.
  if (isObject(body.intoClause)) return { command: 'select_into', effect: 'ddl' };
  // Row locks (FOR UPDATE/SHARE) and data-modifying CTEs make the whole statement write.
  const locks = Array.isArray(body.lockingClause);
  return { command: locks ? 'select_for_update' : 'select', effect: locks || walker.writes ? 'write' : 'read' };
}

/** Does the expression reference a column (or is it WHERE CURRENT OF)? */
function referencesColumn(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(referencesColumn);
  if (!isObject(value)) return false;
  for (const key in value) {
    if (key === 'ColumnRef' || key === 'CurrentOfExpr') return true;
    if (referencesColumn(value[key])) return true;
  }
  return false;
}

function classifyModify(command: 'update' | 'delete', body: JsonObject): Classification {
  // No WHERE, or a WHERE that names no column (`WHERE true`, `WHERE 1 = 1`): every row.
  return { command, effect: 'write', unbounded: !referencesColumn(body.whereClause) };
}

const PRIVILEGE_SUBTYPES = new Set(['AT_EnableRowSecurity', 'AT_DisableRowSecurity', 'AT_ForceRowSecurity', 'AT_NoForceRowSecurity', 'AT_ChangeOwner']);

/** ALTER TABLE is DDL, unless one of its commands changes row-level security or the owner. */
function classifyAlterTable(body: JsonObject): Classification {
  if (Array.isArray(body.cmds)) {
    for (const cmd of body.cmds) {
      const node = unwrap(cmd);
      if (node !== undefined && PRIVILEGE_SUBTYPES.has(str(node[1].subtype) ?? '')) return { command: 'alter', effect: 'privilege' };
    }
  }
  return { command: 'alter', effect: 'ddl' };
}

function classifyCopy(body: JsonObject, walker: StatementWalker): Classification {
  // PROGRAM runs a shell command on the server; a file name reads or writes the server's disk.
  if (body.is_program === true || str(body.filename) !== undefined) return { command: 'copy', effect: 'admin' };
  if (body.is_from === true) return { command: 'copy', effect: 'write' };
  // COPY (INSERT ... RETURNING) TO STDOUT writes.
  return { command: 'copy', effect: walker.writes ? 'write' : 'read' };
}

/** The statement's command class and effect; the walker has already seen the whole statement. */
export function classify(type: string, body: JsonObject, walker: StatementWalker): Classification {
  switch (type) {
    case 'SelectStmt':
      return classifySelect(body, walker);
    case 'CopyStmt':
      return classifyCopy(body, walker);
    case 'ExplainStmt': {
      if (!explainAnalyzes(body.options)) return { command: 'explain', effect: 'read', readOnlyRelations: true };
      const inner = classifyInner(body.query, walker);
      return inner.error === undefined ? { ...inner, command: 'explain' } : { command: 'explain', effect: 'unknown', error: inner.error, ...(inner.executes !== undefined ? { executes: inner.executes } : {}) };
    }
    case 'PrepareStmt': {
      const inner = classifyInner(body.query, walker);
      const prepared = str(body.name) ?? '';
      return inner.error === undefined ? { command: 'prepare', effect: inner.effect, prepared } : { command: 'prepare', effect: 'unknown', error: inner.error, prepared };
    }
    case 'DeclareCursorStmt': {
      const inner = classifyInner(body.query, walker);
      return inner.error === undefined ? { command: 'declare', effect: inner.effect } : { command: 'declare', effect: 'unknown', error: inner.error };
    }
    case 'ExecuteStmt':
      return { command: 'execute', effect: 'unknown', error: EXECUTE_ERROR, executes: str(body.name) ?? '' };
    case 'CreateTableAsStmt':
      // CREATE TABLE ... AS EXECUTE runs a prepared statement we cannot see.
      return walker.executes !== undefined ? { command: 'create', effect: 'unknown', error: EXECUTE_ERROR, executes: walker.executes } : { command: 'create', effect: 'ddl' };
    case 'UpdateStmt':
      return classifyModify('update', body);
    case 'DeleteStmt':
      return classifyModify('delete', body);
    case 'AlterTableStmt':
      return classifyAlterTable(body);
    case 'DropStmt':
      return { command: 'drop', effect: str(body.removeType) === 'OBJECT_POLICY' ? 'privilege' : 'ddl' };
    case 'DiscardStmt':
      // DISCARD ALL resets the role and session authorization too, as RESET ROLE does.
      return { command: 'discard', effect: str(body.target) === 'DISCARD_ALL' ? 'privilege' : 'read' };
    case 'VariableSetStmt':
      return classifySetting(body);
    case 'TransactionStmt': {
      const command = TRANSACTION_COMMANDS[str(body.kind) ?? ''];
      return command === undefined ? unknown(`transaction statement ${str(body.kind) ?? '?'} is not classified`) : { command, effect: 'read' };
    }
    case 'GrantStmt':
      return { command: body.is_grant === true ? 'grant' : 'revoke', effect: 'privilege' };
    case 'GrantRoleStmt':
      return { command: body.is_grant === true ? 'grant_role' : 'revoke_role', effect: 'privilege' };
    case 'VacuumStmt':
      return { command: body.is_vacuumcmd === true ? 'vacuum' : 'analyze', effect: 'admin' };
  }
  const fixed = FIXED[type];
  if (fixed !== undefined) return { command: fixed[0], effect: fixed[1] };
  // The rest of the CREATE/ALTER/DROP family (types, functions, domains, triggers...) is DDL.
  const family = /^(Create|Alter|Drop)/.exec(type)?.[1];
  if (family !== undefined) return { command: family.toLowerCase(), effect: 'ddl' };
  return unknown(`${type} is not classified by the analyser`);
}
