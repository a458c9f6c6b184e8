// Requests per second and added latency of the HTTP gateway, next to the same API called
// directly and through nginx. A small upstream API (node:http, in a child process so that it
// does not share the gateway's event loop) answers GET /v1/items/:id with a ~1 KB JSON
// document (three `email` fields at different depths, one more address in free text), and
// only to `Authorization: Bearer <upstream token>`. wrk loads it:
//   (a) directly, with the upstream token,
//   (b) through the gateway, a policy that allows GET, no masks,
//   (c) through the gateway, the same policy plus masks `{ json: "$..email", with: partial }`
//       and `{ detector: email, with: redact }`,
//   (d) through nginx (Debian's; a throwaway config in a temp folder, one worker, keepalive
//       to the upstream, the upstream token set with proxy_set_header, access log on),
// each with `wrk -t2 -c32 -d8s --latency` after a 2 s warm-up, then once more with one
// connection (`wrk -t1 -c1 -d3s --latency`) for the latency of a request on an idle path.
// The gateway runs in this process (test/support/gateway.ts) with its recording and audit on:
// the agent's token goes to it in `Authorization`, it injects the upstream token. Before the
// load, one request per case checks status 200, that the body equals the direct one (b, d)
// and that every email is masked (c). The table gives rps, p50 and p99 (wrk's), their ratio to
// direct, and the latency added to direct; then CPU per request of the proxy and upstream.
// The load generator, the proxy and the upstream share the machine's cores: on a small
// machine the numbers are those of a contended box, not of the gateway alone.
//
//   node --import tsx bench/http-gateway.ts
//
// Needs wrk and nginx: `apt-get install -y wrk nginx` (without wrk it stops; without nginx,
// (d) is skipped).
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { cleanupAll } from './lib/cleanup.ts';
import { itemDocument, startUpstream, type Upstream } from './lib/http-upstream.ts';
import { NGINX, startNginx, type Nginx } from './lib/nginx.ts';
import { commandExists, run } from './lib/proc.ts';
import { cpuSeconds, machineCpu } from './lib/procfs.ts';
import { runWrk, wrkArgs, type WrkResult } from './lib/wrk.ts';
import { storeDb } from '../test/support/store-db.ts';

const ITEM_ID = 42;
const LOAD = { threads: 2, connections: 32, seconds: 8 };
const IDLE = { threads: 1, connections: 1, seconds: 3 };
const WARM_UP_SECONDS = 2;

try {
  await main();
} finally {
  await cleanupAll();
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

interface Measured {
  readonly wrk: WrkResult;
  /** CPU of the proxy (gateway or nginx) and of the upstream, in µs, over the run. */
  readonly proxyCpu: number | null;
  readonly upstreamCpu: number;
  /** Share of the machine's CPU time that was busy during the run (all processes). */
  readonly machineBusy: number;
  readonly recordedRequests?: number;
  readonly auditRecords?: number;
}

async function main(): Promise<void> {
  // Imported here so that the upstream process does not load the gateway.
  const { startTestGateway } = await import('../test/support/gateway.ts');
  type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

  const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const t0 = Date.now();
  const load0 = loadavg()[0] ?? 0;

  if (!(await commandExists('wrk'))) {
    console.log('wrk is not installed (apt-get install -y wrk): nothing to measure, skipped.');
    return;
  }
  const wrkVersion = ((await run('wrk', ['--version'])).stdout.split('\n')[0] ?? 'wrk').trim();

  const upstreamToken = randomBytes(24).toString('base64url');
  let upstream: Upstream | undefined;
  let t: TestGateway | undefined;
  let nginx: Nginx | undefined;
  // What is still running at a failure or Ctrl-C is stopped by bench/lib/cleanup.ts.
  try {
    // The upstream API, in a child process.
    upstream = await startUpstream(upstreamToken);
    const upstreamPort = upstream.port;
    const upstreamCpu = (upstream as Upstream).cpuMicros;

    // The gateway: one HTTP connection, a policy per case (chosen by the token's group).
    const rules = '    rules:\n      - { match: { http: { method: [GET] } }, then: allow }\n      - { then: deny }';
    t = await startTestGateway(
      `
connections:
  - { name: api, type: http, upstream: { url: "http://127.0.0.1:${upstreamPort}/v1", auth: { type: bearer, token: "\${env:UP_TOKEN}" } } }
policies:
  - name: plain
    subjects: { groups: [plain] }
    connections: [api]
${rules}
  - name: masked
    subjects: { groups: [masked] }
    connections: [api]
    masks:
      - { json: "$..email", with: partial }
      - { detector: email, with: redact }
${rules}
`,
      { ...process.env, UP_TOKEN: upstreamToken },
      '{ api: "127.0.0.1:0", http: "127.0.0.1:0" }',
    );
    const gw = t;
    const gatewayPort = gw.gw.listeners.get('http')?.port;
    if (gatewayPort === undefined) throw new Error('the gateway has no http listener');
    const plainToken = await gw.token('bench-plain', ['plain']);
    const maskedToken = await gw.token('bench-masked', ['masked']);

    // nginx, when installed: a throwaway config, one worker (the gateway is one event loop).
    let nginxNote: string;
    if (!existsSync(NGINX)) {
      nginxNote = 'not installed (apt-get install -y nginx): (d) skipped';
    } else {
      try {
        nginx = await startNginx({ upstreamPort, location: '/api/', upstreamPath: '/v1/', bearer: upstreamToken });
        nginxNote = nginx.describe;
      } catch (err) {
        nginxNote = `did not start: (d) skipped\n${err instanceof Error ? err.message : String(err)}`;
      }
    }
    const nginxPort = nginx?.port;
    const nginxPid = nginx?.service.pid;

    interface Case {
      readonly key: string;
      readonly label: string;
      readonly url: string;
      readonly token: string | null;
      readonly proxy: 'none' | 'gateway' | 'nginx';
    }
    const path = `/items/${ITEM_ID}`;
    const cases: Case[] = [
      { key: 'a', label: '(a) direct', url: `http://127.0.0.1:${upstreamPort}/v1${path}`, token: upstreamToken, proxy: 'none' },
      { key: 'b', label: '(b) gateway, no masks', url: `http://127.0.0.1:${gatewayPort}/api${path}`, token: plainToken, proxy: 'gateway' },
      { key: 'c', label: '(c) gateway, JSON + detector masks', url: `http://127.0.0.1:${gatewayPort}/api${path}`, token: maskedToken, proxy: 'gateway' },
      ...(nginxPort !== undefined ? [{ key: 'd', label: '(d) nginx', url: `http://127.0.0.1:${nginxPort}/api${path}`, token: null, proxy: 'nginx' as const }] : []),
    ];

    // Correctness, once per case.
    const checks: string[] = [];
    const fetchCase = async (c: Case): Promise<{ status: number; body: string }> => {
      const res = await fetch(c.url, { headers: c.token === null ? {} : { authorization: `Bearer ${c.token}` } });
      return { status: res.status, body: await res.text() };
    };
    const direct = await fetchCase(cases[0] as Case);
    const original = JSON.stringify(itemDocument(ITEM_ID));
    for (const c of cases) {
      const r = c === cases[0] ? direct : await fetchCase(c);
      if (r.status !== 200) throw new Error(`check ${c.label}: status ${r.status}: ${r.body.slice(0, 300)}`);
      if (c.key === 'a') {
        if (r.body !== original) throw new Error('check (a): the upstream answered another document');
        const unauthorised = await fetch(c.url);
        if (unauthorised.status !== 401) throw new Error(`check (a): the upstream answered ${unauthorised.status} without its token`);
        checks.push(`${c.label}: 200, ${fmt(r.body.length)} bytes (401 without the upstream token)`);
      } else if (c.key === 'c') {
        const doc = JSON.parse(r.body) as { owner: { email: string }; contacts: { email: string }[]; note: string; description: string };
        const before = itemDocument(ITEM_ID) as { owner: { email: string }; contacts: { email: string }[]; note: string; description: string };
        const emails = [doc.owner.email, ...doc.contacts.map((x) => x.email)];
        const clear = [before.owner.email, ...before.contacts.map((x) => x.email)];
        const addressInNote = /[\w.+-]+@[\w-]+\.[\w.]+/.exec(before.note)?.[0] ?? '';
        const leaked = clear.filter((e) => r.body.includes(e));
        if (leaked.length > 0 || addressInNote === '' || r.body.includes(addressInNote)) throw new Error(`check (c): an email is not masked: ${r.body}`);
        if (!emails.every((e) => e.includes('*'))) throw new Error(`check (c): an $..email field is not masked: ${emails.join(', ')}`);
        if (doc.description !== before.description) throw new Error('check (c): a field without an email changed');
        checks.push(`${c.label}: 200, ${fmt(r.body.length)} bytes, $..email ${clear.map((e, i) => `${e} -> ${emails[i] ?? '?'}`).join(', ')}; note: "${doc.note}"`);
      } else {
        if (r.body !== direct.body) throw new Error(`check ${c.label}: the body differs from the direct one: ${r.body.slice(0, 300)}`);
        checks.push(`${c.label}: 200, ${fmt(r.body.length)} bytes, the same body as direct`);
      }
    }
    if ((await fetch(cases[1]?.url ?? '')).status !== 401) throw new Error('check (b): the gateway let a request without a token through');

    // The load.
    const countOf = async (table: 'audit' | 'session_events'): Promise<number> => {
      let q = storeDb(gw.gw.services.store).selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
      if (table === 'session_events') q = q.where('kind', '=', 'request');
      return Number((await q.executeTakeFirstOrThrow()).n);
    };
    const proxyCpuOf = (c: Case): number | null => {
      if (c.proxy === 'gateway') {
        const u = process.cpuUsage();
        return u.user + u.system;
      }
      if (c.proxy === 'nginx' && nginxPid !== undefined) {
        const seconds = cpuSeconds(nginxPid, 'live');
        return seconds === undefined ? null : seconds * 1e6;
      }
      return null;
    };
    const measure = async (c: Case, shape: { threads: number; connections: number; seconds: number }): Promise<Measured> => {
      const gatewayCase = c.proxy === 'gateway';
      if (gatewayCase) await gw.gw.recorder.flush();
      const recorded0 = gatewayCase ? await countOf('session_events') : 0;
      const audit0 = gatewayCase ? await countOf('audit') : 0;
      const up0 = await upstreamCpu();
      const proxy0 = proxyCpuOf(c);
      const machine0 = machineCpu();
      const w = await wrk(c, shape);
      const machine1 = machineCpu();
      const proxy1 = proxyCpuOf(c);
      const up1 = await upstreamCpu();
      const m: Measured = {
        wrk: w,
        proxyCpu: proxy0 === null || proxy1 === null ? null : proxy1 - proxy0,
        upstreamCpu: up1 - up0,
        machineBusy: (machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total),
      };
      if (!gatewayCase) return m;
      await gw.gw.recorder.flush();
      await new Promise((r) => setTimeout(r, 100)); // the audit log writes in short windows
      return { ...m, recordedRequests: (await countOf('session_events')) - recorded0, auditRecords: (await countOf('audit')) - audit0 };
    };
    const headersOf = (token: string | null): string[] => (token !== null ? [`Authorization: Bearer ${token}`] : []);
    // Errors are reported under the tables rather than thrown.
    const wrk = (c: Case, shape: { threads: number; connections: number; seconds: number }): Promise<WrkResult> => runWrk(c.url, shape, headersOf(c.token), { allowErrors: true });

    for (const c of cases) await wrk(c, { ...LOAD, seconds: WARM_UP_SECONDS });
    const loaded = new Map<string, Measured>();
    for (const c of cases) loaded.set(c.key, await measure(c, LOAD));
    const idle = new Map<string, Measured>();
    for (const c of cases) idle.set(c.key, await measure(c, IDLE));
    const seconds = ((Date.now() - t0) / 1000).toFixed(0);

    // The report.
    const ms = (x: number): string => (x < 1 ? `${fmt(x * 1000)} µs` : `${fmt(x, 2)} ms`);
    const plus = (x: number): string => (x < 0 ? `-${ms(-x)}` : `+${ms(x)}`);
    const ratio = (x: number): string => `${fmt(x, 2)}x`;
    const cpuModel = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
    console.log(`portcullis HTTP gateway benchmark: GET /items/${ITEM_ID}, a ${fmt(original.length)}-byte JSON document from a node:http upstream (child process)`);
    console.log(`machine: ${availableParallelism()} cores (${cpuModel}), 1-minute load average ${load0.toFixed(1)} at the start, ${(loadavg()[0] ?? 0).toFixed(1)} at the end`);
    console.log(`note: wrk, the proxy under test and the upstream all run on these ${availableParallelism()} cores and compete for them; the gateway (this`);
    console.log('      process, one event loop, recording and audit on, writing to SQLite) and nginx (1 worker) each use at most ~1 core.');
    console.log(`load generator: ${wrkVersion}`);
    console.log(`nginx: ${nginxNote}`);
    console.log(`gateway: 127.0.0.1:${gatewayPort}, connection "api" -> http://127.0.0.1:${upstreamPort}/v1 (bearer injected), Node ${process.version}`);

    const table = (title: string, results: Map<string, Measured>): void => {
      const base = results.get('a') as Measured;
      console.log(`\n${title}`);
      console.log(`${'case'.padEnd(36)} ${'rps'.padStart(8)} ${'vs direct'.padStart(9)} ${'p50'.padStart(9)} ${'vs direct'.padStart(9)} ${'p99'.padStart(9)} ${'vs direct'.padStart(9)} ${'added p50'.padStart(10)} ${'added p99'.padStart(10)} ${'errors'.padStart(6)}`);
      for (const c of cases) {
        const r = results.get(c.key) as Measured;
        const w = r.wrk;
        const errors = w.non2xx + (w.socketErrors !== null ? 1 : 0);
        const added50 = c.key === 'a' ? '-' : plus(w.p50 - base.wrk.p50);
        const added99 = c.key === 'a' ? '-' : plus(w.p99 - base.wrk.p99);
        console.log(
          `${c.label.padEnd(36)} ${fmt(w.rps).padStart(8)} ${ratio(w.rps / base.wrk.rps).padStart(9)} ${ms(w.p50).padStart(9)} ${ratio(w.p50 / base.wrk.p50).padStart(9)} ${ms(w.p99).padStart(9)} ${ratio(w.p99 / base.wrk.p99).padStart(9)} ${added50.padStart(10)} ${added99.padStart(10)} ${String(errors).padStart(6)}`,
        );
      }
    };
    const cpuTable = (results: Map<string, Measured>): void => {
      console.log(`${'case'.padEnd(36)} ${'requests'.padStart(9)} ${'bytes/resp'.padStart(10)} ${'proxy CPU/req'.padStart(13)} ${'proxy cores'.padStart(11)} ${'upstream CPU/req'.padStart(16)} ${'machine busy'.padStart(12)} ${'recorded'.padStart(9)} ${'audited'.padStart(8)}`);
      for (const c of cases) {
        const r = results.get(c.key) as Measured;
        const w = r.wrk;
        const proxyPerReq = r.proxyCpu === null ? '-' : `${fmt(r.proxyCpu / w.requests)} µs`;
        const proxyCores = r.proxyCpu === null ? '-' : fmt(r.proxyCpu / 1e6 / w.seconds, 2);
        console.log(
          `${c.label.padEnd(36)} ${fmt(w.requests).padStart(9)} ${fmt(w.bytesRead / w.requests).padStart(10)} ${proxyPerReq.padStart(13)} ${proxyCores.padStart(11)} ${`${fmt(r.upstreamCpu / w.requests)} µs`.padStart(16)} ${`${fmt(r.machineBusy * 100)}%`.padStart(12)} ${(r.recordedRequests !== undefined ? fmt(r.recordedRequests) : '-').padStart(9)} ${(r.auditRecords !== undefined ? fmt(r.auditRecords) : '-').padStart(8)}`,
        );
      }
    };
    table(`under load: wrk -t${LOAD.threads} -c${LOAD.connections} -d${LOAD.seconds}s --latency (after a ${WARM_UP_SECONDS} s warm-up per case)`, loaded);
    table(`one connection: wrk -t${IDLE.threads} -c${IDLE.connections} -d${IDLE.seconds}s --latency (the latency of one request on an idle path)`, idle);
    console.log(`\nCPU under load (proxy: this process for the gateway, master + worker for nginx; bytes/resp: wrk's bytes read per response, headers included;`);
    console.log('recorded / audited: request events the gateway recorded and audit records it wrote during the run)');
    cpuTable(loaded);
    console.log('\nwrk commands (tokens elided):');
    for (const c of cases) console.log(`  ${c.label.padEnd(36)} wrk ${wrkArgs(c.url, LOAD, headersOf(c.token === null ? null : '<token>')).map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`);
    console.log('\nchecks (one request per case before the load):');
    for (const line of checks) console.log(`  ${line}`);
    console.log(`  (b) without a token: 401`);
    const failed = [...loaded.values(), ...idle.values()].filter((r) => r.wrk.non2xx > 0 || r.wrk.socketErrors !== null);
    if (failed.length > 0) console.log(`  WARNING: some runs had errors: ${failed.map((r) => `${fmt(r.wrk.non2xx)} non-2xx, ${r.wrk.socketErrors ?? 'no socket errors'}`).join('; ')}`);
    console.log(`\ntotal ${seconds} s`);
  } finally {
    await nginx?.stop(); // SIGQUIT: the worker flushes the access log and exits
    if (t !== undefined) {
      await t.stop();
      rmSync(t.dir, { recursive: true, force: true });
    }
    upstream?.stop();
  }
}
