// Micro-benchmark of the write side of the hot path: what audit appends (one per policy
// decision) and recorder events (one per statement) cost the main thread's event loop.
// N appends (and N recorder events) are issued from the main thread in bursts of BURST per
// turn of the event loop, as the gateway's sessions would; it prints appends/s (issue to last
// commit) and the event-loop delay p50/p99/max and utilisation seen meanwhile. With
// --rate=R the appends are paced at R per second (the load of a busy gateway), which shows what
// the writes cost the loop at that load; without it they are issued flat out.
//
//   node --import tsx bench/audit-append.ts [N=50000] [BURST=8] [--rate=R] [--memory] [--no-recorder]
//
// `--memory` uses `sqlite::memory:`, which cannot be shared with a writer thread: the in-thread
// writers, for comparison.
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { AuditLog } from '../src/audit/audit-log.ts';
import { Recorder } from '../src/recorder/recorder.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { openStore } from '../src/store/store.ts';

const args = process.argv.slice(2);
const numbers = args.filter((a) => /^\d+$/.test(a)).map(Number);
const n = numbers[0] ?? 50_000;
const burst = numbers[1] ?? 8;
const memory = args.includes('--memory');
const withRecorder = !args.includes('--no-recorder');
const rate = Number(args.find((a) => a.startsWith('--rate='))?.slice('--rate='.length) ?? 0);

const dir = mkdtempSync(join(tmpdir(), 'pcs-bench-audit-'));
const store = await openStore(memory ? 'sqlite::memory:' : `sqlite:${join(dir, 'p.db')}`);
const logger = createLogger('silent');
const audit = await AuditLog.open({ store, signingKeyFile: join(dir, 'audit.pem'), checkpointEvery: 1000, logger });
const recorder = Recorder.open({ store, logger });
const session = recorder.start({ connection: 'app-db', protocol: 'postgres', subject: 'bench', clientAddr: '127.0.0.1:5000' });
// Warm up (worker start, statement caches), outside the measurement.
await Promise.all(Array.from({ length: 200 }, (_, i) => audit.append({ type: 'policy.decision', actor: 'bench', data: { i } })));
await recorder.flush();

const histogram = monitorEventLoopDelay({ resolution: 1 });
histogram.enable();
const elu0 = performance.eventLoopUtilization();
const t0 = performance.now();
const pending: Promise<void>[] = [];
for (let i = 0; i < n; i += burst) {
  for (let j = i; j < Math.min(i + burst, n); j++) {
    const text = `SELECT abalance FROM pgbench_accounts WHERE aid = ${j}`;
    pending.push(audit.append({
      type: 'policy.decision',
      actor: 'bench',
      data: { session: session.id, connection: 'app-db', protocol: 'postgres', action: { kind: 'sql', text, commands: ['SELECT'] }, verdict: 'allow', rule: 'dba#0', reason: 'rule dba#0 allows it' },
    }));
    if (withRecorder) session.event('statement', { text, verdict: 'allow', rows: 1, ms: 0.2 });
  }
  if (rate > 0) {
    // Sleep until the next burst is due.
    const due = t0 + ((i + burst) / rate) * 1000;
    const wait = due - performance.now();
    await new Promise((resolve) => (wait > 1 ? setTimeout(resolve, wait) : setImmediate(resolve)));
  } else {
    await new Promise((resolve) => setImmediate(resolve));
  }
}
const issued = performance.now();
await Promise.all(pending);
await recorder.flush();
const t1 = performance.now();
const elu = performance.eventLoopUtilization(elu0);
histogram.disable();

const ms = (ns: number): string => (ns / 1e6).toFixed(2);
console.log(`${memory ? 'sqlite::memory: (in-thread writers)' : 'sqlite file'}; ${n} appends${withRecorder ? ' + recorder events' : ''}, bursts of ${burst}, ${rate > 0 ? `paced at ${rate}/s` : 'flat out'}`);
console.log(`  appends/s            ${Math.round(n / ((t1 - t0) / 1000))}  (issued in ${(issued - t0).toFixed(0)} ms, committed after ${(t1 - t0).toFixed(0)} ms)`);
console.log(`  event-loop delay ms  p50 ${ms(histogram.percentile(50))}  p99 ${ms(histogram.percentile(99))}  max ${ms(histogram.max)}`);
console.log(`  event-loop utilisation ${(elu.utilization * 100).toFixed(1)}%`);
const stats = recorder.stats();
console.log(`  recorder: written ${stats.written}, batches ${stats.batches}, dropped ${stats.dropped}`);

session.end('closed');
await recorder.close();
await audit.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
