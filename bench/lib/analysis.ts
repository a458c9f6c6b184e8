// First-time analysis of typical statements, in this process: the policy analysis
// (src/policy/sql, cached by the gateway under a literal-normalised key) after its cache is
// cleared, the same analysis when the cache already holds the statement with another literal,
// and the column lineage that masking adds when a policy has column rules (parsed again).
import { analyzeLineage } from '../../src/sql/postgres/lineage/lineage.ts';
import { createRelationCatalog } from '../../src/sql/relation-catalog.ts';
import { analyzePostgres, clearSqlAnalysisCache, loadSqlAnalyzer } from '../../src/sql/postgres/analyze.ts';
import { fmt, median } from './stats.ts';
import type { Table } from './table.ts';

/** `{n}` is replaced by a literal that changes between calls. */
const STATEMENTS: readonly (readonly [string, string])[] = [
  ['pgbench select-only', 'SELECT abalance FROM pgbench_accounts WHERE aid = {n};'],
  ['pgbench update', 'UPDATE pgbench_accounts SET abalance = abalance + -2212 WHERE aid = {n};'],
  ['pgbench insert', 'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, {n}, -2212, CURRENT_TIMESTAMP);'],
  ['two-table join', 'SELECT c.name, c.email, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id > {n} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10'],
];

const TABLES: Readonly<Record<string, readonly string[]>> = {
  pgbench_accounts: ['aid', 'bid', 'abalance', 'filler'],
  pgbench_history: ['tid', 'bid', 'aid', 'delta', 'mtime', 'filler'],
  customers: ['id', 'name', 'email', 'ssn', 'note'],
  orders: ['id', 'customer_id', 'total'],
};

function timeUs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1000;
}

export async function firstTimeAnalysisTable(iterations: number): Promise<Table> {
  await loadSqlAnalyzer();
  const catalog = createRelationCatalog(Object.entries(TABLES).flatMap(([relation, cols]) => cols.map((column, i) => ({ schema: 'public', relation, column, position: i + 1 }))));
  // Warm the WASM parser and the JIT on other texts first.
  for (let i = 0; i < 200; i++) {
    analyzePostgres(`SELECT ${i} FROM warm_up WHERE x = ${i}`);
    analyzeLineage(`SELECT x FROM orders WHERE id = ${i}`, catalog);
  }
  const rows: string[][] = [];
  for (const [label, template] of STATEMENTS) {
    const text = (n: number): string => template.replace('{n}', String(1000 + n));
    const first: number[] = [];
    const cached: number[] = [];
    const lineage: number[] = [];
    for (let i = 0; i < iterations; i++) {
      clearSqlAnalysisCache();
      first.push(timeUs(() => analyzePostgres(text(i))));
      cached.push(timeUs(() => analyzePostgres(text(i + 1))));
      lineage.push(timeUs(() => analyzeLineage(text(i), catalog)));
    }
    const total = median(first) + median(lineage);
    rows.push([label, `${fmt(median(first))} µs`, `${fmt(median(cached), 1)} µs`, `${fmt(median(lineage))} µs`, `${fmt(total)} µs`]);
  }
  clearSqlAnalysisCache();
  return {
    title: `First-time statement analysis (this process, median of ${fmt(iterations)})`,
    headers: ['statement', 'policy analysis, first time', 'cache hit, new literal', 'lineage (masking)', 'first time, total'],
    align: ['l', 'r', 'r', 'r', 'r'],
    rows,
    notes: ['target (issue 8): first-time analysis under 200 µs for a typical statement; lineage runs only when a policy has column mask rules'],
  };
}
