// Micro-benchmark of the content scanner over customer-like values: every built-in detector
// enabled, strings and Buffers, plus one large value without findings.
// Run: node --import tsx bench/masking-scan.ts [values]
import { BUILTIN_DETECTORS } from '../src/masking/detectors/names.ts';
import { MaskPlanner } from '../src/masking/plan.ts';
import type { MaskRule } from '../src/masking/types.ts';

const COUNT = Number(process.argv[2] ?? 100_000);

// A deterministic generator, so runs compare.
let seed = 42;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}
const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)] as T;

const FIRST = ['Jane', 'John', 'Amélie', 'Søren', 'Wei', 'Fatima', 'Carlos', 'Olga', 'Kenji', 'Priya'];
const LAST = ['Doe', 'Smith', 'Müller', 'García', 'Nakamura', 'Okafor', 'Rossi', 'Kowalski'];
const STREETS = ['Main St', 'Baker Street', 'Rue de Rivoli', 'Hauptstraße', 'Calle Mayor'];
const NOTES = [
  'Customer asked about the delivery window, promised a call back on Tuesday.',
  'Refund issued for order 100234 after damaged package, see ticket 88231.',
  'Prefers email contact. VIP since 2019; upgrade to plan v2.3.1 scheduled 2024-05-01.',
  'Paid with card 4111 1111 1111 1111, receipt sent.',
  'Reached at +44 20 7946 0958 at 10:30, left voicemail.',
  'SSN on file 219-09-9999 verified by phone.',
  'Logged in from 203.0.113.42 using Chrome 124.0.6367.91.',
  'Wire to DE89 3704 0044 0532 0130 00 pending.',
  '',
];

function row(i: number): string[] {
  const first = pick(FIRST);
  const last = pick(LAST);
  return [
    String(100000 + i),
    `${first} ${last}`,
    `${first.toLowerCase()}.${last.toLowerCase()}${i % 97}@example.com`,
    `${1 + rand(999)} ${pick(STREETS)}, ${10000 + rand(89999)}`,
    (rand(1000000) / 100).toFixed(2),
    `2024-0${1 + rand(9)}-1${rand(9)} 1${rand(9)}:2${rand(9)}:00+00`,
    pick(NOTES),
    rand(10) === 0 ? JSON.stringify({ id: i, tags: ['a', 'b'], ok: true, score: rand(100) }) : 'active',
  ];
}

const values: string[] = [];
for (let i = 0; values.length < COUNT; i++) values.push(...row(i));
values.length = COUNT;
const buffers = values.map((v) => Buffer.from(v, 'utf8'));
const bytes = buffers.reduce((n, b) => n + b.length, 0);

const rules: MaskRule[] = BUILTIN_DETECTORS.map((detector) => ({ detector, with: 'partial' }));
const scanner = new MaskPlanner(Buffer.alloc(32, 1)).plan(Object.freeze(rules)).scanner;
if (scanner === undefined) throw new Error('no scanner');

function measure(label: string, run: () => number, totalBytes: number, items: number): void {
  run(); // warm up
  const rounds = 5;
  const times: number[] = [];
  let changed = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    changed = run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  const t = times[Math.floor(rounds / 2)] as number;
  console.log(`${label.padEnd(34)} ${(totalBytes / 1e6 / t).toFixed(1).padStart(7)} MB/s ${Math.round(items / t).toLocaleString('en-US').padStart(12)} values/s  (${changed} masked, median of ${rounds})`);
}

console.log(`${COUNT.toLocaleString('en-US')} values, ${(bytes / 1e6).toFixed(1)} MB, ${rules.length} detectors`);
measure('scan(string)', () => values.reduce((n, v) => n + (scanner.scan(v) === v ? 0 : 1), 0), bytes, values.length);
measure('scanBytes(Buffer)', () => buffers.reduce((n, v) => n + (scanner.scanBytes(v) === v ? 0 : 1), 0), bytes, buffers.length);

const clean = 'The quick brown fox jumps over the lazy dog; order 1234 shipped at 10:30 on 2024-01-15. '.repeat(12_000).slice(0, 1 << 20);
measure('1 MiB value, no findings', () => (scanner.scan(clean) === clean ? 0 : 1), clean.length, 1);
const cleanBytes = Buffer.from(clean);
measure('1 MiB Buffer, no findings', () => (scanner.scanBytes(cleanBytes) === cleanBytes ? 0 : 1), cleanBytes.length, 1);
