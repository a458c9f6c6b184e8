// The upstream API of the HTTP benchmarks, in a child process so that it shares no event loop
// with the gateway or the harness: node:http answering GET /v1/items/:id with a ~1 KB JSON
// document (three `email` fields at different depths, one more address in free text), and
// only to `Authorization: Bearer <token>`. The parent learns the port and asks for the
// child's CPU time over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { onCleanup, track } from './cleanup.ts';

/** The item document: ~1 KB, emails at three depths and one in free text. */
export function itemDocument(id: number): Record<string, unknown> {
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

function upstreamMain(): void {
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

export interface Upstream {
  readonly port: number;
  readonly pid: number;
  /** The child's CPU time so far, µs. */
  cpuMicros(): Promise<number>;
  stop(): void;
}

/** Starts the upstream API in a child process (stopped at cleanup). */
export async function startUpstream(token: string): Promise<Upstream> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], { execArgv: process.execArgv, env: { ...process.env, BENCH_UPSTREAM_TOKEN: token }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const untrack = track(child);
  const stop = (): void => {
    if (child.connected) child.disconnect();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    untrack();
  };
  onCleanup(stop);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`the upstream API exited (${String(code)})`)));
  });
  const cpuMicros = (): Promise<number> =>
    new Promise((resolve) => {
      const onMessage = (m: { cpu?: NodeJS.CpuUsage }): void => {
        if (m.cpu === undefined) return;
        child.off('message', onMessage);
        resolve(m.cpu.user + m.cpu.system);
      };
      child.on('message', onMessage);
      child.send({ cpu: true });
    });
  return { port, pid: child.pid ?? -1, cpuMicros, stop };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) upstreamMain();
