// Statement type -> command class and effect, the vocabulary of `match.sql.command/effect`.
// What is not listed here is `unknown` (fail closed): a new PostgreSQL statement type must be
// classified on purpose before a policy can allow it.
import type { SqlEffect } from '../../core/action.ts';
import { isObject, str, unwrap, type JsonObject } from './ast.ts';
import type { StatementWalker } from './walk.ts';

export interface Classification {
  readonly command: string;
  readonly effect: SqlEffect;
  readonly error?: string;
  /** EXPLAIN without ANALYZE plans but runs nothing: its relations are all read. */
  readonly readOnlyRelations?: boolean;
}

export const EXECUTE_ERROR = 'EXECUTE of a prepared statement is resolved by the session';

type Fixed = readonly [command: string, effect: SqlEffect];

const FIXED: Readonly<Record<string, Fixed>> = {
  InsertStmt: ['insert', 'write'],
  UpdateStmt: ['update', 'write'],
  DeleteStmt: ['delete', 'write'],
  MergeStmt: ['merge', 'write'],
  TruncateStmt: ['truncate', 'write'],
  LockStmt: ['lock', 'write'],
  RefreshMatViewStmt: ['refresh', 'write'],
  FetchStmt: ['fetch', 'read'],

  CreateStmt: ['create', 'ddl'],
  CreateTableAsStmt: ['create', 'ddl'],
  IndexStmt: ['create', 'ddl'],
  ViewStmt: ['create', 'ddl'],
  DefineStmt: ['create', 'ddl'],
  CompositeTypeStmt: ['create', 'ddl'],
  RuleStmt: ['create', 'ddl'],
  CreatedbStmt: ['create', 'ddl'],
  DropStmt: ['drop', 'ddl'],
  DropdbStmt: ['drop', 'ddl'],
  AlterTableStmt: ['alter', 'ddl'],
  AlterObjectSchemaStmt: ['alter', 'ddl'],
  AlterOwnerStmt: ['alter', 'ddl'],
  RenameStmt: ['rename', 'ddl'],
  CommentStmt: ['comment', 'ddl'],
  SecLabelStmt: ['security_label', 'ddl'],
  ImportForeignSchemaStmt: ['import', 'ddl'],

  CreateRoleStmt: ['create_role', 'dcl'],
  AlterRoleStmt: ['alter_role', 'dcl'],
  AlterRoleSetStmt: ['alter_role', 'dcl'],
  DropRoleStmt: ['drop_role', 'dcl'],
  AlterDefaultPrivilegesStmt: ['alter_default_privileges', 'dcl'],
  ReassignOwnedStmt: ['reassign_owned', 'dcl'],
  DropOwnedStmt: ['drop_owned', 'dcl'],

  VariableShowStmt: ['show', 'session'],
  DiscardStmt: ['discard', 'session'],
  ListenStmt: ['listen', 'session'],
  UnlistenStmt: ['unlisten', 'session'],
  NotifyStmt: ['notify', 'session'],
  DeallocateStmt: ['deallocate', 'session'],
  ClosePortalStmt: ['close', 'session'],
  ConstraintsSetStmt: ['set_constraints', 'transaction'],

  // Arbitrary code, the server's file system or other servers: administrators only.
  DoStmt: ['do', 'admin'],
  CallStmt: ['call', 'admin'],
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

/** EXPLAIN (ANALYZE) / EXPLAIN ANALYZE: the option is on unless given a false value. */
function explainAnalyzes(options: unknown): boolean {
  if (!Array.isArray(options)) return false;
  for (const option of options) {
    const node = unwrap(option);
    if (node === undefined || node[0] !== 'DefElem' || node[1].defname !== 'analyze') continue;
    const arg = unwrap(node[1].arg);
    const value = arg === undefined ? undefined : String(arg[1].sval ?? arg[1].ival ?? arg[1].boolval ?? '');
    return value === undefined || !FALSE_WORDS.has(value.toLowerCase());
  }
  return false;
}

function classifyInner(query: unknown, walker: StatementWalker): Classification {
  const node = unwrap(query);
  return node === undefined ? unknown('statement without a body') : classify(node[0], node[1], walker);
}

function classifySelect(body: JsonObject, walker: StatementWalker): Classification {
  if (isObject(body.intoClause)) return { command: 'select_into', effect: 'write' };
  // A data-modifying CTE makes the whole statement write.
  const effect: SqlEffect = walker.writes ? 'write' : 'read';
  return { command: Array.isArray(body.lockingClause) ? 'select_for_update' : 'select', effect };
}

function classifyCopy(body: JsonObject, walker: StatementWalker): Classification {
  // PROGRAM runs a shell command on the server; a file name reads or writes the server's disk.
  if (body.is_program === true || str(body.filename) !== undefined) return { command: 'copy', effect: 'admin' };
  if (body.is_from === true) return { command: 'copy', effect: 'write' };
  // COPY (INSERT ... RETURNING) TO STDOUT writes.
  return { command: 'copy', effect: walker.writes ? 'write' : 'read' };
}

function classifySet(body: JsonObject): Classification {
  const name = str(body.name)?.toLowerCase();
  if (name === 'role') return { command: 'set_role', effect: 'dcl' };
  if (name === 'session_authorization') return { command: 'set_session_authorization', effect: 'dcl' };
  const kind = str(body.kind) ?? '';
  return { command: kind.startsWith('VAR_RESET') ? 'reset' : 'set', effect: 'session' };
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
      return inner.error === undefined ? { command: 'explain', effect: inner.effect } : { command: 'explain', effect: 'unknown', error: inner.error };
    }
    case 'PrepareStmt': {
      const inner = classifyInner(body.query, walker);
      return inner.error === undefined ? { command: 'prepare', effect: inner.effect } : { command: 'prepare', effect: 'unknown', error: inner.error };
    }
    case 'DeclareCursorStmt': {
      const inner = classifyInner(body.query, walker);
      return inner.error === undefined ? { command: 'declare', effect: inner.effect } : { command: 'declare', effect: 'unknown', error: inner.error };
    }
    case 'ExecuteStmt':
      return { command: 'execute', effect: 'unknown', error: EXECUTE_ERROR };
    case 'CreateTableAsStmt':
      // CREATE TABLE ... AS EXECUTE runs a prepared statement we cannot see.
      return walker.executes ? { command: 'create', effect: 'unknown', error: EXECUTE_ERROR } : { command: 'create', effect: 'ddl' };
    case 'VariableSetStmt':
      return classifySet(body);
    case 'TransactionStmt': {
      const command = TRANSACTION_COMMANDS[str(body.kind) ?? ''];
      return command === undefined ? unknown(`transaction statement ${str(body.kind) ?? '?'} is not classified`) : { command, effect: 'transaction' };
    }
    case 'GrantStmt':
      return { command: body.is_grant === true ? 'grant' : 'revoke', effect: 'dcl' };
    case 'GrantRoleStmt':
      return { command: body.is_grant === true ? 'grant_role' : 'revoke_role', effect: 'dcl' };
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
