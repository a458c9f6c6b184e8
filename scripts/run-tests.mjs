#!/usr/bin/env node
// Runs every test file with Node's own test runner (through tsx), then checks that no test
// secret leaked: every line the tests printed and every file they wrote under the test temp
// folder (logs, SQLite stores, recordings, every admin API answer: test/support/gateway.ts) is searched for the marker that all test secrets
// carry (test/support/secrets.ts). Files named *.secret hold secrets on purpose (inputs for
// ${file:...} references) and are skipped.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const MARKER = 'pcsTESTsecret';
const root = new URL('..', import.meta.url).pathname;

function walk(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = walk(join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .map((f) => relative(root, f))
  .sort();

const testTmp = mkdtempSync(join(tmpdir(), 'pcs-tests-'));
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  cwd: root,
  env: { ...process.env, PORTCULLIS_TEST_TMP: testTmp },
  stdio: ['ignore', 'pipe', 'pipe'],
});
const captured = [];
child.stdout.on('data', (d) => { captured.push(d); process.stdout.write(d); });
child.stderr.on('data', (d) => { captured.push(d); process.stderr.write(d); });
const code = await new Promise((resolve) => child.on('close', (c, signal) => resolve(c ?? (signal ? 1 : 0))));

const leaks = [];
if (Buffer.concat(captured).includes(MARKER)) leaks.push('test output (stdout/stderr)');
for (const f of walk(testTmp)) {
  if (f.endsWith('.secret') || statSync(f).size > 256 * 1024 * 1024) continue;
  if (readFileSync(f).includes(MARKER)) leaks.push(relative(testTmp, f));
}
if (leaks.length > 0) {
  process.stderr.write(`\nSECRET LEAK: a test secret (marker ${MARKER}) appears in:\n${leaks.map((l) => `  - ${l}`).join('\n')}\n(kept ${testTmp} for inspection)\n`);
  process.exit(1);
}
rmSync(testTmp, { recursive: true, force: true });
process.stdout.write(`\nsecret scan: no test secret in the output of ${files.length} test files or in anything they wrote\n`);
process.exit(code);
