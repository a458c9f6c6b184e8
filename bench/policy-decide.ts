// Micro-benchmark of the policy engine: ns per decide() on a compiled policy set, and µs per
// first-time (uncached) PostgreSQL analysis. Run: node --import tsx bench/policy-decide.ts
import { parseConfig } from '../src/config/load.ts';
import type { Action } from '../src/core/action.ts';
import type { Identity } from '../src/core/identity.ts';
import { compilePolicies } from '../src/policy/compile.ts';
import { decide } from '../src/policy/decide.ts';
import { analyzePostgres, clearSqlAnalysisCache, loadSqlAnalyzer } from '../src/sql/postgres/analyze.ts';
import { createFunctionCatalog } from '../src/sql/postgres/function-catalog.ts';

const filler = Array.from({ length: 8 }, (_, i) => `
  - name: team-${i}
    subjects: { groups: [team-${i}] }
    connections: ["db-${i}-*"]
    rules:
      - match: { sql: { effect: [read], tables: ["app.*"] } }
        then: allow`).join('');

const { config } = parseConfig(`
connections:
  - { name: prod-db, type: postgres, upstream: { host: db, database: app, user: gw } }
  - { name: api, type: http, upstream: { url: "https://api.example.com" } }
policies:${filler}
  - name: shadow-next
    mode: shadow
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - match: { sql: { effect: [read], tables: ["public.*"] } }
        then: allow
  - name: agents
    subjects: { groups: [agents] }
    connections: ["prod-*", api]
    masks: [{ column: "public.customers.email", with: partial }]
    rules:
      - match: { sql: { functions: [pg_read_file, "dblink*"] } }
        then: deny
      - match: { sql: { touches: ["secrets.*"] } }
        then: deny
      - match: { sql: { effect: [read], tables: ["public.*", "sales.*"] } }
        then: allow
      - match: { http: { method: [GET], path: ["/customers/:id", "/reports/**"] } }
        then: allow
      - match: { sql: { effect: [write] } }
        then: review
`);

await loadSqlAnalyzer();
const policies = compilePolicies(config.policies);
const agent: Identity = { subject: 'ci-agent', groups: ['devs', 'agents'], roles: [], issuer: 'bench', method: 'local' };
const prod = { name: 'prod-db', type: 'postgres' };

function bench(label: string, action: Action, connection = prod): void {
  const n = 1_000_000;
  for (let i = 0; i < 10_000; i++) decide(policies, agent, connection, action);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) decide(policies, agent, connection, action);
  const ns = Number(process.hrtime.bigint() - start) / n;
  console.log(`decide ${label.padEnd(44)} ${ns.toFixed(0).padStart(6)} ns`);
}

bench('sql select, join (allow, with shadow)', analyzePostgres('select * from customers c join sales.orders o on o.cid = c.id'));
bench('sql update (review)', analyzePostgres('update customers set name = $1 where id = $2'));
bench('sql 3 statements (most restrictive)', analyzePostgres('begin; select 1 from customers; delete from x'));
bench('sql parse error (deny, no match)', analyzePostgres('selec 1'));
bench('http GET /reports/2024/q1', { kind: 'http', method: 'GET', path: '/reports/2024/q1', query: {}, headers: {} }, { name: 'api', type: 'http' });

const samples = [
  'select * from customers c join sales.orders o on o.cid = c.id where c.id = $1',
  'with recent as (select * from orders where created > now() - interval \'1 day\') select count(*) from recent',
  'insert into archive select * from orders where total > 100',
  'update accounts set balance = balance - 10 where id = 42',
  'select c.name, sum(o.total) from customers c left join orders o on o.cid = c.id group by 1 order by 2 desc limit 10',
];
const rounds = 200;
let total = 0n;
for (let r = 0; r < rounds; r++) {
  clearSqlAnalysisCache();
  const start = process.hrtime.bigint();
  for (const sql of samples) analyzePostgres(`${sql} /* ${r} */`);
  total += process.hrtime.bigint() - start;
}
console.log(`analyzePostgres first time (parse + walk)              ${(Number(total) / (rounds * samples.length) / 1000).toFixed(1).padStart(6)} µs`);
const cachedStart = process.hrtime.bigint();
for (let i = 0; i < 100_000; i++) analyzePostgres(samples[0] ?? '');
console.log(`analyzePostgres cached, same text                       ${(Number(process.hrtime.bigint() - cachedStart) / 100_000).toFixed(0).padStart(6)} ns`);

// pgbench's statements with new literals every time: the normalised cache entry is shared.
const catalog = createFunctionCatalog(Array.from({ length: 2000 }, (_, i) => ({ schema: 'public', name: `fn_${i}`, volatility: 'v' as const })));
const pgbench = (i: number): string[] => [
  `UPDATE pgbench_accounts SET abalance = abalance + ${i % 5000} WHERE aid = ${i};`,
  `SELECT abalance FROM pgbench_accounts WHERE aid = ${i};`,
  `UPDATE pgbench_tellers SET tbalance = tbalance + ${i % 5000} WHERE tid = ${i % 10};`,
  `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (${i % 10}, 1, ${i}, ${i % 5000}, CURRENT_TIMESTAMP);`,
];
const texts = Array.from({ length: 20_000 }, (_, i) => pgbench(i + 1)).flat();
for (const t of texts.slice(0, 4000)) analyzePostgres(t, { catalog });
const hitStart = process.hrtime.bigint();
for (const t of texts) analyzePostgres(t, { catalog });
console.log(`analyzePostgres cached, pgbench with new literals       ${(Number(process.hrtime.bigint() - hitStart) / texts.length).toFixed(0).padStart(6)} ns`);
let firstTotal = 0n;
for (let r = 0; r < rounds; r++) {
  clearSqlAnalysisCache();
  const start = process.hrtime.bigint();
  for (const t of pgbench(r)) analyzePostgres(t, { catalog });
  firstTotal += process.hrtime.bigint() - start;
}
console.log(`analyzePostgres first time, pgbench statement           ${(Number(firstTotal) / (rounds * 4) / 1000).toFixed(1).padStart(6)} µs`);
