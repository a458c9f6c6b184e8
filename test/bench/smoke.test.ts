// Keeps the benchmark scripts working without running benchmarks: each section of
// bench/run.ts once with the tiniest settings (--smoke: tiny data, 1 s runs, one round, no
// warm-up, no --write), checking that its table comes out with numbers; and the parsers and
// the docs writer on fixed input.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderReport, keptProfile } from '../../bench/lib/report.ts';
import { parsePgbenchSummary } from '../../bench/lib/pgbench.ts';
import { percentile } from '../../bench/lib/stats.ts';
import { parseWrk } from '../../bench/lib/wrk.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECTION_TIMEOUT_MS = 150_000;

function runBench(only: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--only', only, '--duration', '1', '--rounds', '1', '--smoke'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // SIGTERM first: the benchmark stops what it started.
    const timer = setTimeout(() => child.kill('SIGTERM'), SECTION_TIMEOUT_MS - 10_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const NUMBER = String.raw`[\d,]+(?:\.\d+)?`;
/** A table row: workload, path, a throughput in `unit`, and (for Portcullis) its ratio to direct. */
const row = (workload: string, path: string, unit: string): RegExp => new RegExp(`^${workload}\\s+${path}\\s+${NUMBER} ${unit}\\b`, 'm');
const ratioRow = (workload: string, unit: string): RegExp => new RegExp(`^${workload}\\s+portcullis\\S*\\s+${NUMBER} ${unit}\\s.*\\s${NUMBER}x\\s`, 'm');

describe('bench/run.ts smoke runs', () => {
  it('pg: pgbench and the large result, direct / pgbouncer / portcullis', { timeout: SECTION_TIMEOUT_MS }, async () => {
    const r = await runBench('pg');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    for (const w of ['select-only, -M simple', 'select-only, -M prepared', 'TPC-B-like, -M simple', 'TPC-B-like, -M prepared']) {
      assert.match(r.stdout, row(w, 'direct', 'tps'), r.stdout);
      assert.match(r.stdout, row(w, 'pgbouncer \\(session\\)', 'tps'), r.stdout);
      assert.match(r.stdout, ratioRow(w, 'tps'), r.stdout);
    }
    assert.match(r.stdout, row('2,000 rows \\(\\S+ MB\\)', 'portcullis, 2 mask rules', 'rows/s'), r.stdout);
    assert.match(r.stdout, /analysis cache hit rate in the gateway over its pgbench runs: \S/);
    assert.match(r.stdout, new RegExp(`^pgbench select-only\\s+${NUMBER} µs`, 'm'));
  });

  it('http: wrk direct / nginx / portcullis', { timeout: SECTION_TIMEOUT_MS }, async () => {
    const r = await runBench('http');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, row('GET \\S+ JSON', 'direct', 'rps'), r.stdout);
    assert.match(r.stdout, row('GET \\S+ JSON', 'nginx \\(reverse proxy\\)', 'rps'), r.stdout);
    assert.match(r.stdout, ratioRow('GET \\S+ JSON', 'rps'), r.stdout);
  });

  it('ssh: a transfer direct / socat / portcullis', { timeout: SECTION_TIMEOUT_MS }, async () => {
    const r = await runBench('ssh');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, row('2 MB download, ssh cat', 'direct \\(OpenSSH sshd\\)', 'MB/s'), r.stdout);
    assert.match(r.stdout, ratioRow('2 MB download, ssh cat', 'MB/s'), r.stdout);
  });

  it('memory: resident memory with idle sessions', { timeout: SECTION_TIMEOUT_MS }, async () => {
    const r = await runBench('memory');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    for (const sessions of [0, 1, 10]) assert.match(r.stdout, new RegExp(`^\\s+${sessions}\\s+${NUMBER}\\s`, 'm'), r.stdout);
  });
});

describe('bench helpers', () => {
  it('reads wrk --latency output', () => {
    const w = parseWrk(`Running 1s test @ http://127.0.0.1:1/x
  2 threads and 32 connections
  Latency Distribution
     50%  812.00us
     75%    1.10ms
     90%    1.90ms
     99%    2.50ms
  12000 requests in 1.00s, 11.50MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  11990.12
Transfer/sec:     11.49MB
`);
    assert.equal(w.requests, 12000);
    assert.equal(w.rps, 11990.12);
    assert.equal(w.p50, 0.812);
    assert.equal(w.p99, 2.5);
    assert.equal(w.non2xx, 3);
    assert.equal(w.socketErrors, null);
  });

  it('reads the pgbench summary', () => {
    const s = parsePgbenchSummary('number of transactions actually processed: 40123\nnumber of failed transactions: 0 (0.000%)\nlatency average = 0.2 ms\ninitial connection time = 5.1 ms\ntps = 20061.5 (without initial connection time)\n');
    assert.deepEqual(s, { tps: 20061.5, transactions: 40123, failed: 0 });
    assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
    assert.equal(percentile([5, 1, 3, 2, 4], 99), 5);
  });

  it('keeps the profile notes of docs/benchmarks.md across rewrites', () => {
    const report = { command: 'npm run bench', date: new Date(0), machine: { cpu: 'cpu', cores: 2, memory: '1 GiB', kernel: 'k', os: 'os', load: '0', versions: new Map([['node', 'v20']]) }, sections: [], failures: [], seconds: 1, settings: { duration: 20, rounds: 3, smoke: false } };
    const first = renderReport(report, undefined);
    assert.match(first, /<!-- profile -->\n_Not written yet\._/);
    const edited = first.replace(/_Not written yet\.[\s\S]*?(?=\n<!-- \/profile -->)/, 'Most of the time goes to parsing.');
    assert.equal(keptProfile(edited), 'Most of the time goes to parsing.');
    assert.match(renderReport(report, keptProfile(edited)), /<!-- profile -->\nMost of the time goes to parsing.\n<!-- \/profile -->/);
  });
});
