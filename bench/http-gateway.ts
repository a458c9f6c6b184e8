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
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer, connect } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ITEM_ID = 42;
const LOAD = { threads: 2, connections: 32, seconds: 8 };
const IDLE = { threads: 1, connections: 1, seconds: 3 };
const WARM_UP_SECONDS = 2;

// ---------------------------------------------------------------------------------------------
// The upstream API, in a child process.

/** The item document: ~1 KB, emails at three depths and one in free text. */
function itemDocument(id: number): Record<string, unknown> {
  return {
    id,
    sku: `SKU-${String(100000 + id)}`,
    name: 'Ergonomic standing desk, oak top, 160 x 80 cm',
    status: 'active',
    created_at: '2024-05-01T10:30:00Z',
    updated_at: '2025-01-17T08:02:11Z',
    price: { amount: 64900, currency: 'EUR', tax_rate: 0.21 },
    stock: { warehouse: 'AMS-2', on_hand: 37, reserved: 4 },
    owner: { name: 'Jane Doe', email: `jane.doe${id % 97}@example.com`, phone: '+44 20 7946 0958' },
    contacts: [
      { role: 'billing', name: 'John Smith', email: `billing${id % 89}@example.org` },
      { role: 'support', name: 'Wei Nakamura', email: `wei.nakamura${id % 83}@example.net` },
    ],
    tags: ['furniture', 'office', 'height-adjustable', 'oak', 'bulk-discount'],
    note: `Customer asked about the delivery window; forwarded to accounts${id % 13}@example.com for follow-up.`,
    description:
      'Electric height adjustment from 62 to 127 cm with two quiet motors, four memory presets and an anti-collision sensor. ' +
      'Solid oak top, oiled, 25 mm; steel frame in matt black. Assembly takes about 30 minutes; tools included.',
  };
}

async function upstreamMain(): Promise<void> {
  const token = process.env.BENCH_UPSTREAM_TOKEN ?? '';
  const expected = `Bearer ${token}`;
  const server = createServer((req, res) => {
    if (token === '' || req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":"unauthorised"}');
      return;
    }
    const m = req.method === 'GET' ? /^\/v1\/items\/(\d+)$/.exec(req.url ?? '') : null;
    if (m === null) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
      return;
    }
    const body = JSON.stringify(itemDocument(Number(m[1])));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 30_000;
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: { cpu?: boolean }) => {
    if (m.cpu === true) process.send?.({ cpu: process.cpuUsage() });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
  });
}

if (process.argv[2] === '--upstream') {
  await upstreamMain();
} else {
  await main();
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

interface Wrk {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly bytesRead: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly socketErrors: string | null;
}

interface Measured {
  readonly wrk: Wrk;
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

  if ((await runProcess('sh', ['-c', 'command -v wrk'])).code !== 0) {
    console.log('wrk is not installed (apt-get install -y wrk): nothing to measure, skipped.');
    return;
  }
  const wrkVersion = ((await runProcess('wrk', ['--version'])).stdout.split('\n')[0] ?? 'wrk').trim();
  const clkTck = Number((await runProcess('getconf', ['CLK_TCK'])).stdout.trim()) || 100;

  const upstreamToken = randomBytes(24).toString('base64url');
  let upstream: ChildProcess | undefined;
  let t: TestGateway | undefined;
  let nginx: ChildProcess | undefined;
  let nginxDir: string | undefined;
  // Dying before `finally` (Ctrl-C, a closed stdout): stop nginx and remove the temp folders.
  let done = false;
  process.on('exit', () => {
    if (done) return;
    nginx?.kill('SIGTERM');
    upstream?.kill('SIGTERM');
    for (const dir of [nginxDir, t?.dir]) if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => process.exit(130));

  try {
    // The upstream API.
    upstream = fork(fileURLToPath(import.meta.url), ['--upstream'], { execArgv: process.execArgv, env: { ...process.env, BENCH_UPSTREAM_TOKEN: upstreamToken }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const upstreamPort = await new Promise<number>((resolve, reject) => {
      upstream?.once('message', (m: { port: number }) => resolve(m.port));
      upstream?.once('exit', (code) => reject(new Error(`the upstream exited (${String(code)})`)));
    });
    const upstreamCpu = (): Promise<number> =>
      new Promise((resolve) => {
        const onMessage = (m: { cpu?: NodeJS.CpuUsage }): void => {
          if (m.cpu === undefined) return;
          upstream?.off('message', onMessage);
          resolve(m.cpu.user + m.cpu.system);
        };
        upstream?.on('message', onMessage);
        upstream?.send({ cpu: true });
      });

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
    let nginxPort: number | undefined;
    let nginxNote: string;
    const nginxBin = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined;
    if (nginxBin === undefined) {
      nginxNote = 'not installed (apt-get install -y nginx): (d) skipped';
    } else {
      nginxPort = await freePort();
      nginxDir = mkdtempSync(join(tmpdir(), 'pcs-bench-nginx-'));
      for (const sub of ['logs', 'temp']) mkdirSync(join(nginxDir, sub));
      const conf = join(nginxDir, 'nginx.conf');
      const root = process.getuid?.() === 0;
      writeFileSync(
        conf,
        `${root ? 'user root;\n' : ''}daemon off;
master_process on;
worker_processes 1;
pid ${nginxDir}/nginx.pid;
error_log ${nginxDir}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log ${nginxDir}/logs/access.log combined buffer=64k flush=1s;
  client_body_temp_path ${nginxDir}/temp/body;
  proxy_temp_path ${nginxDir}/temp/proxy;
  fastcgi_temp_path ${nginxDir}/temp/fastcgi;
  uwsgi_temp_path ${nginxDir}/temp/uwsgi;
  scgi_temp_path ${nginxDir}/temp/scgi;
  keepalive_requests 100000;
  upstream api {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 100000;
  }
  server {
    listen 127.0.0.1:${nginxPort};
    location /api/ {
      proxy_pass http://api/v1/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${upstreamToken}";
    }
  }
}
`,
        { mode: 0o600 },
      );
      nginx = spawn(nginxBin, ['-e', join(nginxDir, 'logs', 'error.log'), '-p', nginxDir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      nginx.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
      if (!(await waitForPort(nginxPort, 5000))) {
        nginx.kill('SIGTERM');
        nginx = undefined;
        const errors = existsSync(join(nginxDir, 'logs', 'error.log')) ? readFileSync(join(nginxDir, 'logs', 'error.log'), 'utf8').slice(-2000) : '';
        nginxNote = `did not start: (d) skipped\n${log}${errors}`;
        nginxPort = undefined;
      } else {
        const version = (await runProcess(nginxBin, ['-v'])).stderr.trim();
        nginxNote = `${version}, 1 worker, keepalive 64 to the upstream, access log on (buffer=64k)`;
      }
    }
    const nginxPid = nginx?.pid;

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
      let q = gw.gw.services.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
      if (table === 'session_events') q = q.where('kind', '=', 'request');
      return Number((await q.executeTakeFirstOrThrow()).n);
    };
    const proxyCpuOf = (c: Case): number | null => {
      if (c.proxy === 'gateway') {
        const u = process.cpuUsage();
        return u.user + u.system;
      }
      if (c.proxy === 'nginx' && nginxPid !== undefined) return processTreeCpu(nginxPid, clkTck);
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
    const wrkArgs = (c: Case, shape: { threads: number; connections: number; seconds: number }, token: string | null): string[] => [
      `-t${shape.threads}`,
      `-c${shape.connections}`,
      `-d${shape.seconds}s`,
      '--latency',
      ...(token !== null ? ['-H', `Authorization: Bearer ${token}`] : []),
      c.url,
    ];
    const wrk = async (c: Case, shape: { threads: number; connections: number; seconds: number }): Promise<Wrk> => {
      const r = await runProcess('wrk', wrkArgs(c, shape, c.token));
      if (r.code !== 0) throw new Error(`wrk for ${c.label} exited ${String(r.code)}: ${r.stderr}${r.stdout}`);
      return parseWrk(r.stdout);
    };

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
    for (const c of cases) console.log(`  ${c.label.padEnd(36)} wrk ${wrkArgs(c, LOAD, c.token === null ? null : '<token>').map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`);
    console.log('\nchecks (one request per case before the load):');
    for (const line of checks) console.log(`  ${line}`);
    console.log(`  (b) without a token: 401`);
    const failed = [...loaded.values(), ...idle.values()].filter((r) => r.wrk.non2xx > 0 || r.wrk.socketErrors !== null);
    if (failed.length > 0) console.log(`  WARNING: some runs had errors: ${failed.map((r) => `${fmt(r.wrk.non2xx)} non-2xx, ${r.wrk.socketErrors ?? 'no socket errors'}`).join('; ')}`);
    console.log(`\ntotal ${seconds} s`);
  } finally {
    if (nginx !== undefined) {
      const exited = new Promise<void>((resolve) => nginx?.once('exit', () => resolve()));
      nginx.kill('SIGQUIT'); // graceful: the worker flushes the access log and exits
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (nginx.exitCode === null && nginx.signalCode === null) nginx.kill('SIGKILL');
    }
    if (nginxDir !== undefined) rmSync(nginxDir, { recursive: true, force: true });
    if (t !== undefined) {
      await t.stop();
      rmSync(t.dir, { recursive: true, force: true });
    }
    upstream?.disconnect();
    done = true;
  }
}

// ---------------------------------------------------------------------------------------------
// wrk's output.

/** wrk's durations (`812.00us`, `1.25ms`, `2.01s`, `1.00m`) in milliseconds. */
function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (m === null) throw new Error(`cannot read the wrk duration "${text}"`);
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

function bytesOf(text: string): number {
  const m = /^([\d.]+)(B|KB|MB|GB)$/.exec(text.trim());
  if (m === null) throw new Error(`cannot read the wrk size "${text}"`);
  return Number(m[1]) * (({ B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 } as Record<string, number>)[m[2] as string] ?? 1);
}

function parseWrk(out: string): Wrk {
  const total = /(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (total === null || rps === null || p50 === null || p99 === null) throw new Error(`cannot read wrk's output:\n${out}`);
  const socket = /Socket errors: (.*)/.exec(out);
  return {
    requests: Number(total[1]),
    seconds: durationMs(total[2] as string) / 1000,
    bytesRead: bytesOf(total[3] as string),
    rps: Number(rps[1]),
    p50: durationMs(p50[1] as string),
    p99: durationMs(p99[1] as string),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: socket?.[1]?.trim() ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc.

/** utime + stime of a process and its direct children (nginx's master and workers), in µs. */
function processTreeCpu(pid: number, clkTck: number): number | null {
  const statOf = (p: string): string[] | null => {
    try {
      const text = readFileSync(`/proc/${p}/stat`, 'utf8');
      return text.slice(text.lastIndexOf(')') + 2).split(' '); // [0] is field 3 (state)
    } catch {
      return null;
    }
  };
  const ticks = (f: string[]): number => Number(f[11]) + Number(f[12]); // utime, stime
  const own = statOf(String(pid));
  if (own === null) return null;
  let total = ticks(own);
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const f = statOf(p);
    if (f !== null && Number(f[1]) === pid) total += ticks(f); // [1] is field 4 (ppid)
  }
  return (total / clkTck) * 1e6;
}

/** The machine's busy and total CPU time (jiffies), from the first line of /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

// ---------------------------------------------------------------------------------------------
// Process helpers.

function runProcess(program: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('error', (err) => {
      clearTimeout(timer);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') resolve({ code: 127, stdout, stderr: String(err) });
      else reject(err);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
