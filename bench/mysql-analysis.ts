// Measures the MySQL analysis on the test corpus (test/sql/mysql/corpus.ts): how many
// statements the grammar (sqlparser-rs behind our lexer) reads, how many the keyword
// classifier decides, how many stay unknown; sqlparser-rs alone on the raw texts for
// comparison; and the time of a first (uncached) and a repeated analysis.
//
//   node --import tsx bench/mysql-analysis.ts [REPS=200]
import { performance } from 'node:perf_hooks';
import { MySqlDialect, parse } from '@guanmingchiu/sqlparser-ts';
import { analyseStatements, clearMysqlAnalysisCache } from '../src/sql/mysql/analyze.ts';
import { mysqlDialectFor } from '../src/sql/mysql/dialect.ts';
import { CASES } from '../test/sql/mysql/corpus.ts';

const reps = Number(process.argv[2] ?? 200);
const server = { version: 101119, mariadb: true } as const;
const dialect = mysqlDialectFor(server);
await dialect.load();

let statements = 0;
let grammar = 0;
let keywords = 0;
let unknown = 0;
let rawParsed = 0;
for (const [text] of CASES) {
  for (const s of analyseStatements(text, server, { searchPath: ['app'] }).statements) {
    statements++;
    if (s.classified.effect === 'unknown' && s.classified.tree === undefined) unknown++;
    else if (s.classified.tree !== undefined) grammar++;
    else keywords++;
  }
  try {
    parse(text, new MySqlDialect());
    rawParsed++;
  } catch {
    // counted as not parsed
  }
}

function time(text: string, cached: boolean): number {
  if (!cached) clearMysqlAnalysisCache();
  dialect.analyze(text, { searchPath: ['app'] });
  const start = performance.now();
  for (let i = 0; i < reps; i++) {
    if (!cached) clearMysqlAnalysisCache();
    dialect.analyze(text, { searchPath: ['app'] });
  }
  return ((performance.now() - start) * 1000) / reps;
}

const join = 'SELECT c.name, o.total FROM customers c JOIN sales.orders o ON o.customer_id = c.id WHERE o.total > 10 ORDER BY o.total DESC LIMIT 10';
let all = 0;
for (const [text] of CASES) all += time(text, false);
const line = (k: string, v: string): void => void process.stdout.write(`${k.padEnd(44)} ${v}\n`);
line('corpus texts / statements', `${CASES.length} / ${statements}`);
line('read by the grammar (behind the lexer)', `${grammar} (${((100 * grammar) / statements).toFixed(0)}%)`);
line('decided by the keyword classifier', `${keywords} (${((100 * keywords) / statements).toFixed(0)}%)`);
line('unknown (fail closed)', `${unknown} (${((100 * unknown) / statements).toFixed(0)}%)`);
line('sqlparser-rs alone on the raw texts parses', `${rawParsed} / ${CASES.length} texts`);
line('first analysis, mean over the corpus', `${(all / CASES.length).toFixed(1)} µs per text`);
line('first analysis, two-table join SELECT', `${time(join, false).toFixed(1)} µs`);
line('repeated analysis (cache hit), same join', `${time(join, true).toFixed(2)} µs`);
// A new literal each time (sysbench's point selects): the literal-normalised template hits.
clearMysqlAnalysisCache();
dialect.analyze('SELECT c FROM sbtest1 WHERE id = 0', { searchPath: ['app'] });
const start = performance.now();
for (let i = 1; i <= reps; i++) dialect.analyze(`SELECT c FROM sbtest1 WHERE id = ${i}`, { searchPath: ['app'] });
line('point select with a new literal each time', `${(((performance.now() - start) * 1000) / reps).toFixed(1)} µs`);
