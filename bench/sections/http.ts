// HTTP: wrk against a small JSON API (a ~1 KB document with emails) directly, through nginx
// as a reverse proxy, and through Portcullis (GET allowed, two mask rules over the JSON body,
// recording and audit on). The upstream runs in its own process; each proxy injects the
// upstream's bearer token, so the client sends none (nginx) or its gateway token (Portcullis).
import { randomBytes } from 'node:crypto';
import { comparisonTable, interleave, type Measurement, type PathSpec } from '../lib/compare.ts';
import { startGatewayProcess } from '../lib/gateway.ts';
import { itemDocument, startUpstream } from '../lib/http-upstream.ts';
import { startNginx } from '../lib/nginx.ts';
import { cpuSeconds } from '../lib/procfs.ts';
import { ensureCommands } from '../lib/proc.ts';
import type { Section } from '../lib/section.ts';
import { fmt } from '../lib/stats.ts';
import { runWrk, wrkArgs, type WrkShape } from '../lib/wrk.ts';

const ITEM_ID = 42;
const SHAPE = { threads: 2, connections: 32 } as const;
export const HTTP_MASKS = ['{ json: "$..email", with: partial }', '{ detector: email, with: redact }'] as const;

export const httpSection: Section = async (opts) => {
  const missing = await ensureCommands({ wrk: 'wrk', nginx: 'nginx' }, opts.log);
  if (missing.includes('wrk')) throw new Error('wrk is needed (apt-get install -y wrk)');

  const upstreamToken = randomBytes(24).toString('base64url');
  const upstream = await startUpstream(upstreamToken);
  const [gw, nginx] = await Promise.all([
    startGatewayProcess({
      listen: ['http'],
      env: { BENCH_UPSTREAM_TOKEN: upstreamToken },
      yaml: `connections:
  - { name: api, type: http, upstream: { url: "http://127.0.0.1:${upstream.port}/v1", auth: { type: bearer, token: "\${env:BENCH_UPSTREAM_TOKEN}" } } }
policies:
  - name: bench-agent
    subjects: { groups: [agents] }
    connections: [api]
    masks:
${HTTP_MASKS.map((m) => `      - ${m}`).join('\n')}
    rules:
      - { match: { http: { method: [GET], path: ["/items/:id"] } }, then: allow }
      - { then: deny }
`,
      tokens: { agent: { subject: 'bench-agent', groups: ['agents'] } },
    }),
    missing.includes('nginx') ? Promise.resolve(undefined) : startNginx({ upstreamPort: upstream.port, location: '/api/', upstreamPath: '/v1/', bearer: upstreamToken }),
  ]);
  const gwPort = gw.ports.get('http') as number;

  interface Target {
    readonly url: string;
    readonly headers: readonly string[];
    readonly pid: number | undefined;
    readonly children: 'none' | 'live';
  }
  const path = `/items/${ITEM_ID}`;
  const targets: Record<string, Target> = {
    direct: { url: `http://127.0.0.1:${upstream.port}/v1${path}`, headers: [`Authorization: Bearer ${upstreamToken}`], pid: undefined, children: 'none' },
    ...(nginx !== undefined ? { nginx: { url: `http://127.0.0.1:${nginx.port}/api${path}`, headers: [], pid: nginx.service.pid, children: 'live' as const } } : {}),
    portcullis: { url: `http://127.0.0.1:${gwPort}/api${path}`, headers: [`Authorization: Bearer ${gw.tokens.agent as string}`], pid: gw.pid, children: 'none' },
  };
  const paths: PathSpec[] = [
    { key: 'direct', label: 'direct', role: 'direct' },
    ...(nginx !== undefined ? [{ key: 'nginx', label: 'nginx (reverse proxy)', role: 'peer' as const }] : []),
    { key: 'portcullis', label: 'portcullis', role: 'portcullis' },
  ];

  // Checks: 200 everywhere, nginx answers the upstream's document, Portcullis masks every email.
  const original = JSON.stringify(itemDocument(ITEM_ID));
  const emails = original.match(/[\w.+-]+@[\w-]+\.[\w.]+/g) ?? [];
  for (const p of paths) {
    const t = targets[p.key] as Target;
    const headers = Object.fromEntries(t.headers.map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1).trim()]));
    const res = await fetch(t.url, { headers });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`http: ${p.label} answered ${res.status}: ${body.slice(0, 300)}`);
    if (p.key === 'portcullis') {
      const leaked = emails.filter((e) => body.includes(e));
      if (emails.length === 0 || leaked.length > 0) throw new Error(`http: Portcullis left emails in clear: ${leaked.join(', ')}`);
    } else if (body !== original) {
      throw new Error(`http: ${p.label} answered another document`);
    }
  }

  const measure = async (p: PathSpec, seconds: number): Promise<Measurement> => {
    const t = targets[p.key] as Target;
    const shape: WrkShape = { ...SHAPE, seconds };
    const cpu0 = t.pid !== undefined ? cpuSeconds(t.pid, t.children) : undefined;
    const w = await runWrk(t.url, shape, t.headers);
    const cpu1 = t.pid !== undefined ? cpuSeconds(t.pid, t.children) : undefined;
    return {
      throughput: w.rps,
      p50: w.p50,
      p99: w.p99,
      ...(cpu0 !== undefined && cpu1 !== undefined && w.requests > 0 ? { proxyCpuPerOp: ((cpu1 - cpu0) * 1e6) / w.requests } : {}),
    };
  };
  const workload = { name: `GET ${fmt(original.length)}-byte JSON`, unit: 'rps' };
  if (opts.warmup > 0) {
    opts.log(`http: warm-up, ${opts.warmup} s per path`);
    for (const p of paths) await measure(p, opts.warmup);
  }
  opts.log('http: wrk');
  const rows = await interleave(opts.rounds, [workload], paths, (_w, p) => measure(p, opts.duration), opts.log);
  return {
    name: 'HTTP',
    tables: [comparisonTable(`HTTP: wrk -t${SHAPE.threads} -c${SHAPE.connections} -d${opts.duration}s --latency, median of ${opts.rounds} interleaved round(s)`, rows)],
    setup: [
      `wrk ${wrkArgs('<url>', { ...SHAPE, seconds: opts.duration }).join(' ')}; p50/p99 are wrk's`,
      `upstream: node:http in its own process, GET /v1/items/${ITEM_ID} answers a ${fmt(original.length)}-byte JSON document with ${emails.length} email addresses, only with its bearer token`,
      `nginx: ${nginx?.describe ?? 'not installed: no peer row'}; injects the upstream token`,
      `portcullis: its own process, log level info, recording and audit on (SQLite store); policy: GET /items/:id allowed, default deny; masks ${HTTP_MASKS.join(', ')}; injects the upstream token`,
      'proxy CPU/op: user + system CPU of nginx (master and worker) or of the gateway process per request, from /proc',
    ],
  };
};
