// One MySQL statement (the lexer's tokens) -> command, effect, relations, calls. Two paths:
// - the grammar (sqlparser-rs, parse.ts) for queries, DML and the DDL it reads, over a
//   canonical text (grammar-text.ts) with MySQL-only clauses it cannot parse taken out first
//   and remembered (INTO OUTFILE/DUMPFILE/@var, LOCK IN SHARE MODE, NEXT VALUE FOR);
// - a small keyword classifier, from the token stream, for statements whose effect is fixed
//   by their first words (SHOW, KILL, GRANT, LOAD DATA, PREPARE, HANDLER, SET GLOBAL...).
// Anything neither reads with certainty is `unknown`.
import type { SqlEffect, SqlStatement } from '../../core/action.ts';
import { isObject, nameParts, referencesColumn, TreeWalker, type Json, type JsonObject } from './ast.ts';
import { grammarText } from './grammar-text.ts';
import { keyword, lexMysql, type SqlMode, type Token } from './lex.ts';
import { parseMysql } from './parse.ts';
import type { MysqlServer } from './server.ts';

export interface Context {
  readonly server: MysqlServer;
  readonly mode: SqlMode;
  /** The session's current database (unqualified names resolve in it). */
  readonly database: string | undefined;
}

/** A file or variable a statement writes outside every table (for lineage and the record). */
export interface Outside {
  readonly outfile?: string;
  /** SELECT ... INTO @a, @b: the variables in output order. */
  readonly variables: readonly string[];
  /** SET @v = expr: each variable and the grammar's tree of `SELECT expr` (undefined: a plain value). */
  readonly assigned?: readonly { readonly variable: string; readonly tree: JsonObject | undefined }[];
}

export interface Classified {
  readonly command: string;
  readonly effect: SqlEffect;
  readonly relations: ReadonlyMap<string, 'read' | 'write'>;
  readonly functions: readonly string[];
  /** Calls that run (lower-case name parts), whose effects make `effect` worse. */
  readonly calls: readonly (readonly string[])[];
  readonly extra: Partial<Pick<SqlStatement, 'error' | 'setting' | 'prepared' | 'executes' | 'unbounded' | 'credential'>>;
  /** The analysis depends on a literal's value (settings, PREPARE text): cache by exact text. */
  readonly literalBound: boolean;
  /** The grammar's tree of the statement as parsed (for lineage), and what was taken out of it. */
  readonly tree?: JsonObject;
  readonly outside?: Outside;
}

export const EXECUTE_ERROR = 'EXECUTE of a prepared statement is resolved by the session';
const NO_RELATIONS: ReadonlyMap<string, 'read' | 'write'> = new Map();

function fixed(command: string, effect: SqlEffect, more?: Partial<Classified>): Classified {
  return { command, effect, relations: NO_RELATIONS, functions: [], calls: [], extra: {}, literalBound: false, ...more };
}

export function unknown(error: string, command = 'unknown'): Classified {
  return fixed(command, 'unknown', { extra: { error }, literalBound: true });
}

/** Character sets in which a multi-byte character may end in 0x5c (backslash): the lexer's reading of quotes would not be the server's. */
const UNSAFE_CLIENT_CHARSETS = new Set(['big5', 'cp932', 'gbk', 'gb18030', 'sjis']);
/** Session variables only an administrator may set, which hide or forge what the server records. */
const ADMIN_SESSION_VARIABLES = new Set([
  'sql_log_bin', 'sql_log_off', 'gtid_next', 'gtid_seq_no', 'gtid_domain_id', 'server_id', 'pseudo_thread_id', 'pseudo_slave_mode',
  'pseudo_replica_mode', 'skip_replication', 'wsrep_on', 'wsrep_osu_method', 'default_master_connection', 'binlog_format', 'session_track_system_variables',
]);
/** SHOW forms about the server and other sessions rather than the session's own objects. */
const SHOW_ADMIN = new Set(['PROCESSLIST', 'ENGINE', 'BINLOG', 'BINARY', 'MASTER', 'SLAVE', 'REPLICA', 'REPLICAS', 'RELAYLOG', 'EXPLAIN', 'ANALYZE', 'ALL']);
const ACCOUNT_OBJECTS = new Set(['USER', 'ROLE']);
const ROUTINE_OBJECTS = new Set(['PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT', 'PACKAGE']);
const COMPOUND_WORDS = new Set(['BEGIN', 'IF', 'CASE', 'LOOP', 'REPEAT', 'WHILE', 'DECLARE']);
const ADMIN_OBJECTS = new Set(['SERVER', 'TABLESPACE', 'LOGFILE', 'RESOURCE', 'INSTANCE', 'UNDO']);
/** Options between CREATE/ALTER/DROP and the kind of object. */
const DDL_OPTIONS = new Set(['OR', 'REPLACE', 'TEMPORARY', 'IF', 'NOT', 'EXISTS', 'AGGREGATE', 'UNIQUE', 'FULLTEXT', 'SPATIAL', 'ONLINE', 'OFFLINE', 'IGNORE', 'SQL', 'SECURITY', 'DEFINER', 'INVOKER', 'ALGORITHM', 'UNDEFINED', 'MERGE', 'TEMPTABLE', 'LOCAL', 'GLOBAL']);
const STATEMENT_WORDS = new Set(['SELECT', 'WITH', 'INSERT', 'REPLACE', 'UPDATE', 'DELETE', 'TABLE', 'VALUES']);

/** [start, end) index ranges of the depth-0 comma-separated items of tokens[from, to). */
function items(tokens: readonly Token[], from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  let depth = 0;
  let start = from;
  for (let i = from; i < to; i++) {
    const t = tokens[i] as Token;
    if (t.kind === 'op' && t.value === '(') depth++;
    else if (t.kind === 'op' && t.value === ')') depth--;
    else if (depth === 0 && t.kind === 'op' && t.value === ',') {
      out.push([start, i]);
      start = i + 1;
    }
  }
  if (start < to) out.push([start, to]);
  return out;
}

function isName(t: Token | undefined): boolean {
  return t !== undefined && (t.kind === 'word' || t.kind === 'ident');
}

/** A table name at tokens[i] (`t` or `db.t`): its parts and the index after it. */
function tableNameAt(tokens: readonly Token[], i: number): { parts: string[]; next: number } | undefined {
  const first = tokens[i];
  if (!isName(first) || first === undefined) return undefined;
  const dot = tokens[i + 1];
  const second = tokens[i + 2];
  if (dot?.kind === 'op' && dot.value === '.' && isName(second) && second !== undefined) return { parts: [first.value, second.value], next: i + 3 };
  return { parts: [first.value], next: i + 1 };
}

function indexOfWord(tokens: readonly Token[], word: string, from = 0): number {
  for (let i = from; i < tokens.length; i++) if (keyword(tokens[i]) === word) return i;
  return -1;
}

/** Calls written as `name(` in a token range: for keyword-classified statements with expressions. */
function tokenCalls(tokens: readonly Token[], from: number, to: number): string[][] {
  const out: string[][] = [];
  for (let i = from; i < to - 1; i++) {
    const t = tokens[i] as Token;
    const next = tokens[i + 1] as Token;
    if (!isName(t) || next.kind !== 'op' || next.value !== '(') continue;
    const prev = tokens[i - 1];
    const owner = tokens[i - 2];
    if (prev?.kind === 'op' && prev.value === '.' && isName(owner) && owner !== undefined) out.push([owner.value.toLowerCase(), t.value.toLowerCase()]);
    else out.push([t.value.toLowerCase()]);
  }
  return out;
}

/** Words that may be keywords before `(` in the token-scanned forms: not calls. */
const NOT_CALLS = new Set(['in', 'values', 'and', 'or', 'not', 'exists', 'row', 'using', 'xor', 'is']);

function withCalls(c: Classified, calls: readonly string[][]): Classified {
  const real = calls.filter((p) => !(p.length === 1 && NOT_CALLS.has(p[0] ?? '')));
  if (real.length === 0) return c;
  return { ...c, functions: [...new Set([...c.functions, ...real.map((p) => p.join('.'))])], calls: [...c.calls, ...real] };
}

export class Classifier {
  constructor(private readonly ctx: Context) {}

  private relationMap(entries: readonly (readonly [string[], 'read' | 'write'])[]): Map<string, 'read' | 'write'> {
    const walker = new TreeWalker(this.ctx.database, (this.ctx.server.lowerCaseTableNames ?? 0) > 0);
    const out = new Map<string, 'read' | 'write'>();
    for (const [parts, access] of entries) {
      const q = walker.qualify(parts);
      if (q !== undefined && out.get(q) !== 'write') out.set(q, access);
    }
    return out;
  }

  classify(tokens: readonly Token[]): Classified {
    const k0 = keyword(tokens[0]);
    const k1 = keyword(tokens[1]);
    if (tokens[0]?.kind === 'op' && tokens[0].value === '(') return this.grammar(tokens);
    switch (k0) {
      case 'SELECT':
      case 'WITH':
      case 'VALUES':
      case 'TABLE':
      case 'INSERT':
      case 'REPLACE':
      case 'UPDATE':
      case 'DELETE':
      case 'TRUNCATE':
        return this.grammar(tokens);
      case 'DO':
        return this.rename(this.grammar([{ ...(tokens[0] as Token), value: 'SELECT' }, ...tokens.slice(1)]), 'do');
      case 'SHOW':
        return this.show(tokens);
      case 'USE':
        if (tokens.length !== 2 || !isName(tokens[1])) return unknown('USE takes one database name', 'use');
        return fixed('use', 'read', { extra: { setting: { name: 'database', value: tokens[1]?.value ?? '' } }, literalBound: true });
      case 'KILL':
      case 'SHUTDOWN':
      case 'RESTART':
      case 'FLUSH':
      case 'RESET':
      case 'INSTALL':
      case 'UNINSTALL':
      case 'BINLOG':
      case 'PURGE':
      case 'CACHE':
        return fixed(k0.toLowerCase(), 'admin');
      case 'CHANGE':
        // CHANGE MASTER / REPLICATION SOURCE TO ... MASTER_PASSWORD = '...'
        return fixed('change_replication', 'admin', { extra: { credential: true } });
      case 'START':
        if (k1 === 'TRANSACTION') return fixed('begin', 'read');
        if (k1 === 'SLAVE' || k1 === 'REPLICA' || k1 === 'GROUP_REPLICATION' || k1 === 'ALL') return fixed('start_replication', 'admin', { extra: { credential: true } });
        return unknown(`START ${k1} is not classified`);
      case 'STOP':
        return fixed('stop_replication', 'admin');
      case 'BEGIN':
        if (tokens.length === 1 || (tokens.length === 2 && k1 === 'WORK')) return fixed('begin', 'read');
        return unknown('a compound statement (BEGIN ... END) outside a stored routine', 'begin');
      case 'COMMIT':
      case 'ROLLBACK':
      case 'SAVEPOINT':
      case 'RELEASE':
        if (k0 === 'ROLLBACK' && indexOfWord(tokens, 'TO') > 0) return fixed('rollback_to', 'read');
        return fixed(k0.toLowerCase(), 'read');
      case 'LOAD':
        return this.load(tokens);
      case 'HANDLER':
        return this.handler(tokens);
      case 'PREPARE':
        return this.prepare(tokens);
      case 'EXECUTE': {
        const name = tokens[1];
        if (!isName(name) || name === undefined) return unknown('EXECUTE without a statement name', 'execute');
        return fixed('execute', 'unknown', { extra: { error: EXECUTE_ERROR, executes: name.value.toLowerCase() }, literalBound: true });
      }
      case 'DEALLOCATE':
        return fixed('deallocate', 'read');
      case 'CALL':
        return this.call(tokens);
      case 'LOCK':
        return this.lock(tokens);
      case 'UNLOCK':
        return fixed('unlock', 'read');
      case 'GRANT':
      case 'REVOKE':
        return fixed(k0.toLowerCase(), 'privilege', { extra: indexOfWord(tokens, 'IDENTIFIED') > 0 ? { credential: true } : {} });
      case 'CREATE':
      case 'ALTER':
      case 'DROP':
      case 'RENAME':
        return this.ddl(tokens);
      case 'SET':
        return this.set(tokens);
      case 'OPTIMIZE':
      case 'REPAIR':
      case 'CHECK':
      case 'CHECKSUM':
        return this.maintenance(tokens);
      case 'ANALYZE':
        if (k1 === 'TABLE' || k1 === 'TABLES' || k1 === 'NO_WRITE_TO_BINLOG' || k1 === 'LOCAL') return this.maintenance(tokens);
        // MariaDB's ANALYZE <statement> runs the statement.
        return this.rename(this.classify(tokens.slice(1)), 'analyze');
      case 'EXPLAIN':
      case 'DESCRIBE':
      case 'DESC':
        return this.explain(tokens);
      case 'HELP':
        return fixed('help', 'read');
    }
    return unknown(`${k0 === '' ? 'a statement that does not start with a keyword' : `${k0} statements are not classified`}`);
  }

  private rename(c: Classified, command: string): Classified {
    return c.command === 'unknown' ? { ...c, command } : { ...c, command };
  }

  /** The grammar's reading of a query, DML or DDL statement. */
  grammar(input: readonly Token[]): Classified {
    const { tokens, outside, shareLock } = extractMysqlClauses(input);
    const parsed = parseMysql(grammarText(tokens));
    if (!parsed.ok) return unknown(`the grammar does not read this statement (${parsed.message.replace(/^sql parser error: /, '')})`);
    if (parsed.stmts.length !== 1) return unknown('the grammar read more than one statement');
    const stmt = parsed.stmts[0] as unknown as JsonObject;
    const type = Object.keys(stmt)[0] ?? '';
    const body = stmt[type];
    const walker = new TreeWalker(this.ctx.database, (this.ctx.server.lowerCaseTableNames ?? 0) > 0);
    const result = (command: string, effect: SqlEffect, extra: Classified['extra'] = {}): Classified => {
      if (walker.error !== undefined) return unknown(walker.error, command);
      const out: Classified = {
        command,
        effect,
        relations: walker.relations,
        functions: [...walker.functions],
        calls: walker.calls,
        extra,
        literalBound: false,
        tree: stmt,
        ...(outside.outfile !== undefined || outside.variables.length > 0 ? { outside } : {}),
      };
      return out;
    };
    if (type === 'RenameTable' && Array.isArray(body)) {
      for (const r of body as readonly Json[]) if (isObject(r)) for (const k of ['old_name', 'new_name'] as const) walker.relation(r[k], 'write');
      return result('rename', 'ddl');
    }
    if (!isObject(body)) return unknown(`${type} is not classified by the analyser`);
    switch (type) {
      case 'Query': {
        walker.walk(body);
        if (outside.outfile !== undefined) return result('select_into_outfile', 'admin');
        const locks = (Array.isArray(body.locks) && body.locks.length > 0) || shareLock;
        return result(locks ? 'select_for_update' : 'select', locks ? 'write' : 'read');
      }
      case 'Insert': {
        walker.walk(body);
        const table = isObject(body.table) ? body.table.TableName : undefined;
        walker.relation(table, 'write');
        return result(keyword(input[0]) === 'REPLACE' ? 'replace' : 'insert', 'write');
      }
      case 'Update': {
        walker.walk(body);
        // Every table of a multi-table UPDATE may be written (an over-estimate is safe).
        this.markWritten(walker, body.table);
        return result('update', 'write', referencesColumn(body.selection) ? {} : { unbounded: true });
      }
      case 'Delete': {
        walker.walk(body);
        const targets = Array.isArray(body.tables) ? (body.tables as readonly Json[]) : [];
        if (targets.length > 0) {
          for (const t of targets) {
            const parts = nameParts(t);
            const alias = parts?.length === 1 ? walker.aliases.get(parts[0] ?? '') : undefined;
            if (alias !== undefined) walker.relations.set(alias, 'write');
            else walker.relation(t, 'write');
          }
        } else this.markWritten(walker, body.from);
        return result('delete', 'write', referencesColumn(body.selection) ? {} : { unbounded: true });
      }
      case 'Truncate': {
        for (const t of Array.isArray(body.table_names) ? (body.table_names as readonly Json[]) : []) walker.relation(isObject(t) ? t.name : undefined, 'write');
        return result('truncate', 'write');
      }
      case 'CreateTable':
      case 'CreateView':
      case 'CreateIndex':
      case 'AlterTable':
      case 'AlterView':
      case 'Drop':
      case 'RenameTable':
      case 'CreateDatabase':
      case 'CreateSequence':
      case 'DropSequence': {
        walker.walk(body);
        for (const name of ddlObjects(type, body)) walker.relation(name, 'write');
        return result(/^(Create|Alter|Drop|Rename)/.exec(type)?.[1]?.toLowerCase() ?? 'ddl', 'ddl');
      }
    }
    return unknown(`${type} is not classified by the analyser`);
  }

  private markWritten(walker: TreeWalker, from: Json | undefined): void {
    const mark = (v: Json | undefined): void => {
      if (Array.isArray(v)) return (v as readonly Json[]).forEach(mark);
      if (!isObject(v)) return;
      if (isObject(v.Table) && Array.isArray(v.Table.name)) walker.relation(v.Table.name, 'write');
      // Not into subqueries: a derived table is read.
      for (const k of ['relation', 'joins', 'WithFromKeyword', 'WithoutKeyword'] as const) if (k in v) mark(v[k]);
    };
    mark(from);
  }

  private show(tokens: readonly Token[]): Classified {
    let i = 1;
    while (keyword(tokens[i]) === 'FULL' || keyword(tokens[i]) === 'EXTENDED' || keyword(tokens[i]) === 'GLOBAL' || keyword(tokens[i]) === 'SESSION') i++;
    const what = keyword(tokens[i]);
    if (SHOW_ADMIN.has(what)) return fixed('show', 'admin');
    const entries: [string[], 'read'][] = [];
    if (what === 'CREATE' && (keyword(tokens[i + 1]) === 'TABLE' || keyword(tokens[i + 1]) === 'VIEW' || keyword(tokens[i + 1]) === 'SEQUENCE')) {
      const name = tableNameAt(tokens, i + 2);
      if (name === undefined) return unknown('SHOW CREATE without a name', 'show');
      entries.push([name.parts, 'read']);
    } else if (what === 'COLUMNS' || what === 'FIELDS' || what === 'INDEX' || what === 'INDEXES' || what === 'KEYS') {
      const from = keyword(tokens[i + 1]);
      if (from !== 'FROM' && from !== 'IN') return unknown(`SHOW ${what} without FROM`, 'show');
      const name = tableNameAt(tokens, i + 2);
      if (name === undefined) return unknown(`SHOW ${what} without a table`, 'show');
      const db = keyword(tokens[name.next]) === 'FROM' || keyword(tokens[name.next]) === 'IN' ? tokens[name.next + 1] : undefined;
      entries.push([db !== undefined && isName(db) ? [db.value, ...name.parts.slice(-1)] : name.parts, 'read']);
    }
    return fixed('show', 'read', { relations: this.relationMap(entries) });
  }

  private load(tokens: readonly Token[]): Classified {
    if (keyword(tokens[1]) === 'INDEX') return fixed('load_index', 'admin');
    if (keyword(tokens[1]) !== 'DATA' && keyword(tokens[1]) !== 'XML') return unknown('LOAD of an unknown kind', 'load');
    const local = indexOfWord(tokens, 'LOCAL') > 0 && indexOfWord(tokens, 'LOCAL') < indexOfWord(tokens, 'INFILE');
    const into = indexOfWord(tokens, 'INTO');
    const name = into > 0 && keyword(tokens[into + 1]) === 'TABLE' ? tableNameAt(tokens, into + 2) : undefined;
    if (name === undefined) return unknown('LOAD DATA without INTO TABLE', 'load_data');
    // A SET clause computes column values: its calls run.
    const set = indexOfWord(tokens, 'SET', name.next);
    const base = fixed(local ? 'load_data_local' : 'load_data', local ? 'write' : 'admin', { relations: this.relationMap([[name.parts, 'write']]) });
    return set < 0 ? base : withCalls(base, tokenCalls(tokens, set, tokens.length));
  }

  private handler(tokens: readonly Token[]): Classified {
    const name = tableNameAt(tokens, 1);
    if (name === undefined) return unknown('HANDLER without a table', 'handler');
    const op = keyword(tokens[name.next]);
    if (op === 'CLOSE') return fixed('handler', 'read');
    if (op !== 'OPEN' && op !== 'READ') return unknown(`HANDLER ... ${op} is not classified`, 'handler');
    // READ names the handler, which OPEN may have aliased: policy decides the table at OPEN.
    return withCalls(fixed('handler', 'read', { relations: this.relationMap([[name.parts, 'read']]) }), tokenCalls(tokens, name.next, tokens.length));
  }

  private prepare(tokens: readonly Token[]): Classified {
    const name = tokens[1];
    if (!isName(name) || name === undefined || keyword(tokens[2]) !== 'FROM') return unknown('PREPARE without name FROM', 'prepare');
    const prepared = name.value.toLowerCase();
    const source = tokens[3];
    if (tokens.length !== 4 || source === undefined) return unknown('PREPARE ... FROM takes one string or variable', 'prepare');
    if (source.kind === 'var') return { ...unknown(`the prepared text comes from the variable @${source.value}, unknown before it runs`, 'prepare'), extra: { error: `the prepared text comes from the variable @${source.value}, unknown before it runs`, prepared: { name: prepared } } };
    if (source.kind !== 'string') return unknown('PREPARE ... FROM takes a string or a variable', 'prepare');
    const inner = lexMysql(source.value, this.ctx.server, this.ctx.mode);
    const only = inner[0];
    if (inner.length !== 1 || only === undefined) return { ...unknown('the prepared text is not one statement', 'prepare'), extra: { error: 'the prepared text is not one statement', prepared: { name: prepared } } };
    const c = only.error !== undefined ? unknown(only.error) : this.classify(only.tokens);
    return { ...c, command: 'prepare', extra: { ...(c.extra.error !== undefined ? { error: c.extra.error } : {}), ...(c.extra.credential === true ? { credential: true } : {}), prepared: { name: prepared } }, literalBound: true };
  }

  private call(tokens: readonly Token[]): Classified {
    const name = tableNameAt(tokens, 1);
    if (name === undefined) return unknown('CALL without a routine name', 'call');
    const routine = name.parts.map((p) => p.toLowerCase());
    // A stored procedure may do anything its definer can: unknown unless `read_functions` names it.
    return withCalls(fixed('call', 'read', { functions: [routine.join('.')], calls: [routine] }), tokenCalls(tokens, name.next, tokens.length));
  }

  private lock(tokens: readonly Token[]): Classified {
    const k1 = keyword(tokens[1]);
    if (k1 === 'INSTANCE') return fixed('lock_instance', 'admin');
    if (k1 !== 'TABLE' && k1 !== 'TABLES') return unknown(`LOCK ${k1} is not classified`, 'lock');
    const entries: [string[], 'write'][] = [];
    for (const [from, to] of items(tokens, 2, tokens.length)) {
      const name = tableNameAt(tokens, from);
      if (name === undefined || name.next > to) return unknown('LOCK TABLES with an unreadable table list', 'lock');
      entries.push([name.parts, 'write']);
    }
    return fixed('lock', 'write', { relations: this.relationMap(entries) });
  }

  private maintenance(tokens: readonly Token[]): Classified {
    let i = 1;
    while (['TABLE', 'TABLES', 'NO_WRITE_TO_BINLOG', 'LOCAL'].includes(keyword(tokens[i]))) i++;
    const entries: [string[], 'write'][] = [];
    const end = tokens.findIndex((t, k) => k >= i && t.kind === 'word' && ['QUICK', 'FAST', 'MEDIUM', 'EXTENDED', 'CHANGED', 'FOR', 'USE_FRM', 'PERSISTENT', 'UPDATE', 'DROP'].includes(t.value.toUpperCase()));
    for (const [from, to] of items(tokens, i, end < 0 ? tokens.length : end)) {
      const name = tableNameAt(tokens, from);
      if (name === undefined || name.next !== to) return unknown('a table list that is not understood', keyword(tokens[0]).toLowerCase());
      entries.push([name.parts, 'write']);
    }
    return fixed(keyword(tokens[0]).toLowerCase(), 'admin', { relations: this.relationMap(entries) });
  }

  private explain(tokens: readonly Token[]): Classified {
    let i = 1;
    let analyze = false;
    for (;;) {
      const k = keyword(tokens[i]);
      if (k === 'ANALYZE') analyze = true;
      else if (k === 'EXTENDED' || k === 'PARTITIONS') {
        /* options */
      } else if (k === 'FORMAT' && tokens[i + 1]?.value === '=') i += 2;
      else break;
      i++;
    }
    const k = keyword(tokens[i]);
    if (k === 'FOR') return fixed('explain', 'admin');
    if (!STATEMENT_WORDS.has(k) && !(tokens[i]?.kind === 'op' && tokens[i]?.value === '(')) {
      // DESCRIBE t [column]
      const name = tableNameAt(tokens, i);
      if (name === undefined) return unknown('EXPLAIN of something not understood', 'explain');
      return fixed('explain', 'read', { relations: this.relationMap([[name.parts, 'read']]) });
    }
    const inner = this.classify(tokens.slice(i));
    if (analyze || inner.extra.error !== undefined) return { ...inner, command: 'explain' };
    // Planned, not run: relations are read. Calls keep their effect: a server may evaluate
    // constant subqueries and derived tables while planning.
    const relations = new Map([...inner.relations.keys()].map((n) => [n, 'read' as const]));
    return { ...inner, command: 'explain', effect: 'read', relations, extra: {} };
  }

  private ddl(tokens: readonly Token[]): Classified {
    const verb = keyword(tokens[0]);
    let i = 1;
    let definer = false;
    // The grammar reads the statement without the options it does not know (DEFINER, ALGORITHM, SQL SECURITY).
    const kept: Token[] = [tokens[0] as Token];
    while (i < tokens.length) {
      const k = keyword(tokens[i]);
      if ((k === 'DEFINER' || k === 'ALGORITHM') && tokens[i + 1]?.value === '=') {
        const end = k === 'DEFINER' ? accountEnd(tokens, i + 2) : i + 3;
        if (end < 0) return unknown('DEFINER names no account', verb.toLowerCase());
        // DEFINER = CURRENT_USER is the session's own account.
        if (k === 'DEFINER' && keyword(tokens[i + 2]) !== 'CURRENT_USER') definer = true;
        i = end;
        continue;
      }
      if (k === 'SQL' && keyword(tokens[i + 1]) === 'SECURITY') {
        i += 3;
        continue;
      }
      if (!DDL_OPTIONS.has(k)) break;
      kept.push(tokens[i] as Token);
      i++;
    }
    kept.push(...tokens.slice(i));
    const object = keyword(tokens[i]);
    const command = verb.toLowerCase();
    if (ACCOUNT_OBJECTS.has(object)) {
      return fixed(`${command}_${object.toLowerCase()}`, 'privilege', { extra: verb === 'CREATE' || verb === 'ALTER' ? { credential: true } : {} });
    }
    if (verb === 'DROP' && object === 'PREPARE') return fixed('deallocate', 'read');
    if (ADMIN_OBJECTS.has(object)) return fixed(command, 'admin', { extra: object === 'SERVER' ? { credential: true } : {} });
    if (ROUTINE_OBJECTS.has(object)) {
      // A loadable function runs a shared library of the server host.
      if (indexOfWord(tokens, 'SONAME', i) > 0) return fixed(command, 'admin');
      if (verb === 'CREATE') {
        const compound = tokens.some((t, k) => k > i && COMPOUND_WORDS.has(keyword(t)));
        // The server reads a compound body past its `;`s (to END [label|IF|LOOP...]): a body split here is not understood.
        if (compound && !tokens.slice(-2).some((t) => keyword(t) === 'END')) return unknown('a stored program body that continues past a ";" (send it as one statement)', command);
      }
      // The body runs later, under the definer's rights when DEFINER names another account.
      return fixed(command, definer ? 'privilege' : 'ddl');
    }
    // A table's CONNECTION (FEDERATED, CONNECT) carries credentials; DATA/INDEX DIRECTORY places files on the host.
    if (object === 'TABLE' && tokens.some((t) => ['CONNECTION', 'DIRECTORY'].includes(keyword(t)))) return fixed(command, 'admin', { extra: { credential: true } });
    if (object === 'TABLE') {
      const engine = indexOfWord(tokens, 'ENGINE', i);
      const name = engine > 0 ? keyword(tokens[tokens[engine + 1]?.value === '=' ? engine + 2 : engine + 1]) : '';
      // Engines that reach files or other servers (MariaDB CONNECT, FEDERATED).
      if (['CONNECT', 'FEDERATED', 'FEDERATEDX'].includes(name)) return fixed(command, 'admin', { extra: { credential: true } });
    }
    const c = this.grammar(kept);
    if (c.command === 'unknown' && c.extra.error !== undefined) return { ...c, command };
    return definer ? { ...c, effect: 'privilege' } : c;
  }

  private set(tokens: readonly Token[]): Classified {
    const k1 = keyword(tokens[1]);
    if (k1 === 'PASSWORD') return fixed('set_password', 'privilege', { extra: { credential: true }, literalBound: true });
    if (k1 === 'ROLE' || (k1 === 'DEFAULT' && keyword(tokens[2]) === 'ROLE')) return fixed('set_role', 'privilege');
    if (k1 === 'STATEMENT') return unknown('SET STATEMENT ... FOR is not classified', 'set');
    if (k1 === 'TRANSACTION' || (k1 === 'SESSION' && keyword(tokens[2]) === 'TRANSACTION')) return fixed('set_transaction', 'read');
    if (k1 === 'GLOBAL' && keyword(tokens[2]) === 'TRANSACTION') return fixed('set_transaction', 'admin');
    if (k1 === 'NAMES' || k1 === 'CHARSET' || (k1 === 'CHARACTER' && keyword(tokens[2]) === 'SET')) {
      const value = tokens[k1 === 'CHARACTER' ? 3 : 2];
      if (value === undefined || !(isName(value) || value.kind === 'string')) return unknown('SET NAMES without a character set', 'set');
      return this.clientCharset(value.value);
    }
    let effect: SqlEffect = 'read';
    let setting: SqlStatement['setting'];
    const calls: string[][] = [];
    const functions = new Set<string>();
    const relations = new Map<string, 'read' | 'write'>();
    const assigned: { variable: string; tree: JsonObject | undefined }[] = [];
    for (const [from, to] of items(tokens, 1, tokens.length)) {
      let i = from;
      let scope = 'session';
      const k = keyword(tokens[i]);
      if (['GLOBAL', 'PERSIST', 'PERSIST_ONLY', 'SESSION', 'LOCAL'].includes(k)) {
        scope = k === 'LOCAL' ? 'session' : k.toLowerCase();
        i++;
      }
      const target = tokens[i];
      if (target === undefined) return unknown('SET without a variable', 'set');
      let name: string;
      if (target.kind === 'var') {
        name = `@${target.value}`;
        i++;
      } else if (target.kind === 'sysvar') {
        const m = /^(global|session|local|persist|persist_only)\.(.+)$/.exec(target.value);
        if (m !== null) scope = m[1] === 'local' ? 'session' : (m[1] ?? 'session');
        name = m === null ? target.value : (m[2] ?? '');
        i++;
      } else if (isName(target)) {
        name = target.value.toLowerCase();
        i++;
        // component.variable
        if (tokens[i]?.value === '.' && isName(tokens[i + 1])) {
          name = `${name}.${(tokens[i + 1]?.value ?? '').toLowerCase()}`;
          i += 2;
        }
      } else return unknown('SET of something that is not a variable', 'set');
      const eq = tokens[i];
      if (eq?.kind !== 'op' || (eq.value !== '=' && eq.value !== ':=')) return unknown('SET without =', 'set');
      i++;
      if (i >= to) return unknown('SET without a value', 'set');
      if (scope !== 'session') effect = 'admin';
      else if (ADMIN_SESSION_VARIABLES.has(name)) effect = 'admin';
      if (name === 'sql_mode' && scope === 'session') {
        const v = tokens[i];
        const literal = to === i + 1 && v !== undefined && (v.kind === 'string' || (isName(v) && keyword(v) !== 'DEFAULT'));
        if (to === i + 1 && keyword(v) === 'DEFAULT') setting = { name: 'sql_mode', value: null };
        else if (literal) setting = { name: 'sql_mode', value: v.value };
        // Later statements are read under the new mode: a mode not known here cannot be followed.
        else return unknown('sql_mode set to a computed value: the statements after it cannot be read', 'set');
        continue;
      }
      if (name === 'character_set_client' && scope === 'session') {
        const v = tokens[i];
        if (to !== i + 1 || v === undefined || !(isName(v) || v.kind === 'string')) return unknown('character_set_client set to a computed value', 'set');
        const c = this.clientCharset(v.value);
        if (c.effect === 'unknown') return c;
        continue;
      }
      // A plain value (ON, 1, 'x', a name) runs nothing; an expression is read as a query would be.
      if (to === i + 1 && tokens[i]?.kind !== 'var' && tokens[i]?.kind !== 'sysvar') {
        if (name.startsWith('@')) assigned.push({ variable: name, tree: undefined });
        continue;
      }
      const expr = this.grammar([{ kind: 'word', value: 'SELECT', start: tokens[i]?.start ?? 0, end: tokens[i]?.start ?? 0 }, ...tokens.slice(i, to)]);
      if (expr.extra.error !== undefined) return { ...expr, command: 'set' };
      if (name.startsWith('@')) assigned.push({ variable: name, tree: expr.tree });
      for (const [r, a] of expr.relations) relations.set(r, a);
      for (const f of expr.functions) functions.add(f);
      calls.push(...expr.calls.map((c) => [...c]));
    }
    return { command: 'set', effect, relations, functions: [...functions], calls, extra: setting === undefined ? {} : { setting }, literalBound: true, ...(assigned.length > 0 ? { outside: { variables: [], assigned } } : {}) };
  }

  private clientCharset(value: string): Classified {
    const charset = value.toLowerCase();
    // The server's default character set is not known here.
    if (charset === 'default') return unknown('the client character set set to the server default, not known here', 'set');
    if (UNSAFE_CLIENT_CHARSETS.has(charset)) return unknown(`the client character set ${charset} can hide a quote's backslash in a multi-byte character`, 'set');
    return fixed('set', 'read', { extra: { setting: { name: 'names', value: charset } }, literalBound: true });
  }
}

/** Index after an account at tokens[i]: CURRENT_USER[()], or a name or string with an optional @host; -1 when none. */
function accountEnd(tokens: readonly Token[], i: number): number {
  const t = tokens[i];
  if (keyword(t) === 'CURRENT_USER') return tokens[i + 1]?.value === '(' && tokens[i + 2]?.value === ')' ? i + 3 : i + 1;
  if (t === undefined || !(isName(t) || t.kind === 'string')) return -1;
  return tokens[i + 1]?.kind === 'var' && tokens[i + 1]?.start === t.end ? i + 2 : i + 1;
}

/** Names of the objects a DDL statement creates, changes or drops (as tables: views and sequences are too). */
function ddlObjects(type: string, body: JsonObject): Json[] {
  switch (type) {
    case 'CreateTable':
    case 'CreateView':
    case 'AlterTable':
    case 'AlterView':
    case 'CreateSequence':
      return [body.name ?? null];
    case 'CreateIndex':
      return [body.table_name ?? null];
    case 'Drop':
      return ['Table', 'View', 'Sequence', 'Index'].includes(String(body.object_type)) && Array.isArray(body.names) ? [...(body.names as readonly Json[])] : [];
  }
  return [];
}

const CLAUSE_END = new Set(['FROM', 'WHERE', 'GROUP', 'HAVING', 'ORDER', 'LIMIT', 'FOR', 'LOCK', 'UNION', 'EXCEPT', 'INTERSECT', 'WINDOW', 'INTO']);

/**
 * Takes out of a statement's tokens what the grammar cannot read but policy must see:
 * `INTO OUTFILE|DUMPFILE 'file' ...` and `INTO @a, @b` (anywhere at any depth),
 * `LOCK IN SHARE MODE` (= FOR SHARE), `NEXT|PREVIOUS VALUE FOR s` (= nextval(s)/lastval(s)),
 * `WITH ROLLUP`.
 */
export function extractMysqlClauses(tokens: readonly Token[]): { tokens: Token[]; outside: Outside; shareLock: boolean } {
  const out: Token[] = [];
  let outfile: string | undefined;
  const variables: string[] = [];
  let shareLock = false;
  const insert = ['INSERT', 'REPLACE'].includes(keyword(tokens[0]));
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    const k = keyword(t);
    const k1 = keyword(tokens[i + 1]);
    if (k === 'INTO' && !insert && (k1 === 'OUTFILE' || k1 === 'DUMPFILE' || tokens[i + 1]?.kind === 'var')) {
      let j = i + 1;
      if (k1 === 'OUTFILE' || k1 === 'DUMPFILE') {
        const file = tokens[i + 2];
        outfile = file?.kind === 'string' ? file.value : '(unknown file)';
        j = i + 3;
      }
      let depth = 0;
      for (; j < tokens.length; j++) {
        const u = tokens[j] as Token;
        if (u.kind === 'op' && u.value === '(') depth++;
        if (u.kind === 'op' && u.value === ')') {
          if (depth === 0) break;
          depth--;
        }
        if (depth === 0 && CLAUSE_END.has(keyword(u))) break;
        if (u.kind === 'var') variables.push(u.value);
      }
      i = j - 1;
      continue;
    }
    // GROUP BY ... WITH ROLLUP adds subtotal rows: the same columns, the same effect.
    if (k === 'WITH' && k1 === 'ROLLUP') {
      i += 1;
      continue;
    }
    if (k === 'LOCK' && k1 === 'IN' && keyword(tokens[i + 2]) === 'SHARE' && keyword(tokens[i + 3]) === 'MODE') {
      shareLock = true;
      i += 3;
      continue;
    }
    if ((k === 'NEXT' || k === 'PREVIOUS') && k1 === 'VALUE' && keyword(tokens[i + 2]) === 'FOR') {
      const name = tableNameAt(tokens, i + 3);
      if (name !== undefined) {
        const at = { start: t.start, end: t.end };
        out.push({ kind: 'word', value: k === 'NEXT' ? 'nextval' : 'lastval', ...at }, { kind: 'op', value: '(', ...at });
        out.push(...tokens.slice(i + 3, name.next));
        out.push({ kind: 'op', value: ')', ...at });
        i = name.next - 1;
        continue;
      }
    }
    out.push(t);
  }
  return { tokens: out, outside: { ...(outfile !== undefined ? { outfile } : {}), variables }, shareLock };
}
