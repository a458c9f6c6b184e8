// Micro-benchmark of column lineage (src/sql/postgres/lineage): µs per analysis of a few
// typical statements, parse included, next to the parse alone (libpg-query WASM) and to the
// walk over a tree already parsed (what masking pays in the gateway, where the policy
// analysis parsed the text). Run: node --import tsx bench/lineage.ts [iterations]
import { parseSync } from 'libpg-query';
import { loadSqlAnalyzer } from '../src/sql/postgres/analyze.ts';
import { analyzeLineage } from '../src/sql/postgres/lineage/lineage.ts';
import { clearParsedTrees } from '../src/sql/postgres/parse.ts';
import { createRelationCatalog } from '../src/sql/relation-catalog.ts';

const N = Number(process.argv[2] ?? 5000);
await loadSqlAnalyzer();

const tables: Record<string, readonly string[]> = {
  customers: ['id', 'name', 'email', 'ssn', 'card_number'],
  orders: ['id', 'customer_id', 'total'],
  customer_emails: ['id', 'email'],
};
const catalog = createRelationCatalog(
  Object.entries(tables).flatMap(([relation, cols]) => cols.map((column, i) => ({ schema: 'public', relation, column, position: i + 1 }))),
  [{ schema: 'public', relation: 'customer_emails', definition: 'select id, email from customers' }],
);

const CASES: Record<string, string> = {
  'simple select': 'select id, email from customers where id = $1',
  'typical join': 'select c.name, upper(c.email), sum(o.total) from customers c join orders o on o.customer_id = c.id where c.id > $1 group by 1, 2 order by 3 desc limit 10',
  'cte + view + subquery': 'with t as (select id, email from customer_emails) select t.email, (select count(*) from orders o where o.customer_id = t.id) from t',
};

function time(fn: () => void): number {
  for (let i = 0; i < Math.min(N, 500); i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  return Number(process.hrtime.bigint() - start) / 1000 / N;
}

for (const [name, sql] of Object.entries(CASES)) {
  const parse = time(() => parseSync(sql));
  const total = time(() => {
    clearParsedTrees();
    analyzeLineage(sql, catalog);
  });
  const walk = time(() => analyzeLineage(sql, catalog));
  console.log(`${name.padEnd(24)} ${total.toFixed(1).padStart(7)} µs per analysis (parse alone ${parse.toFixed(1)} µs, over the parsed tree ${walk.toFixed(1)} µs)`);
}
