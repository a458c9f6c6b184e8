// One benchmark run of Portcullis against the direct path and well-known proxies (issue 8):
// PostgreSQL (pgbench and a large result; direct, pgbouncer, Portcullis), HTTP (wrk; direct,
// nginx, Portcullis), SSH (a large transfer; direct, socat, Portcullis) and the gateway's
// memory with idle PostgreSQL sessions. Prints a table per section; --write also writes
// docs/benchmarks.md with the machine, the date and the command line.
//
//   npm run bench -- [--duration 20] [--rounds 3] [--warmup 3] [--only pg,http,ssh,memory] [--write] [--smoke]
//
// Installs what it needs from Debian when missing (pgbouncer, nginx, wrk, socat...), and stops
// every process it started and drops every database it created, also on Ctrl-C or a failure.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { cleanupAll, isInterrupted } from './lib/cleanup.ts';
import { describeMachine, machineLines } from './lib/machine.ts';
import { writeReport } from './lib/report.ts';
import type { Section, SectionOptions, SectionResult } from './lib/section.ts';
import { renderText } from './lib/table.ts';
import { httpSection } from './sections/http.ts';
import { memorySection } from './sections/memory.ts';
import { pgSection } from './sections/pg.ts';
import { sshSection } from './sections/ssh.ts';

const SECTIONS: Readonly<Record<string, Section>> = { pg: pgSection, http: httpSection, ssh: sshSection, memory: memorySection };
const DOC = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

const USAGE = `usage: npm run bench -- [options]

  --duration <s>   seconds per measured run (pgbench -T, wrk -d, ...)      default 20
  --rounds <n>     rounds; the paths alternate within each, medians taken  default 3
  --warmup <s>     unmeasured load per workload and path before the rounds default 3 (0 with --smoke)
  --only <list>    sections, comma-separated: ${Object.keys(SECTIONS).join(', ')}      default all
  --write          write the tables to docs/benchmarks.md (keeps its profile notes)
  --smoke          scaled down to check that the scripts work (tiny data, few sessions)
`;

/** Whole numbers only: pgbench -T and wrk -d take whole seconds. */
function whole(name: string, value: string | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || (!allowZero && n === 0)) throw new Error(`--${name} ${value}: expected a ${allowZero ? 'non-negative' : 'positive'} whole number`);
  return n;
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      only: { type: 'string', multiple: true },
      write: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const smoke = values.smoke === true;
  const only = (values.only ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const unknown = only.filter((s) => !(s in SECTIONS));
  if (unknown.length > 0) throw new Error(`--only ${unknown.join(',')}: expected one of ${Object.keys(SECTIONS).join(', ')}`);
  const names = only.length > 0 ? Object.keys(SECTIONS).filter((s) => only.includes(s)) : Object.keys(SECTIONS);
  const opts: SectionOptions = {
    duration: whole('duration', values.duration, 20),
    rounds: whole('rounds', values.rounds, 3),
    warmup: whole('warmup', values.warmup, smoke ? 0 : 3, true),
    smoke,
    log: (line) => void process.stderr.write(`${line}\n`),
  };

  const started = new Date();
  const t0 = Date.now();
  const command = process.env.npm_lifecycle_event === 'bench' ? `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}` : `node --import tsx bench/run.ts ${argv.join(' ')}`.trim();
  const machine = await describeMachine();
  const header = [`Portcullis benchmarks, ${started.toISOString()}`, `command: ${command}`, ...machineLines(machine)];
  process.stdout.write(`${header.join('\n')}\n`);

  const results: SectionResult[] = [];
  const failures: string[] = [];
  for (const name of names) {
    const section = SECTIONS[name] as Section;
    opts.log(`\n== ${name} ==`);
    try {
      const result = await section(opts);
      results.push(result);
      const text = [
        '',
        ...result.tables.map((t) => `${renderText(t)}\n`),
        'setup:',
        ...result.setup.map((l) => `  - ${l}`),
      ];
      process.stdout.write(`${text.join('\n')}\n`);
    } catch (err) {
      if (isInterrupted()) break;
      const message = err instanceof Error ? err.message : String(err);
      failures.push(`${name}: ${message}`);
      process.stdout.write(`\n${name}: FAILED: ${message}\n`);
    } finally {
      // Each section's processes stop before the next one measures.
      await cleanupAll();
    }
  }

  const seconds = (Date.now() - t0) / 1000;
  process.stdout.write(`\ntotal ${Math.round(seconds)} s${failures.length > 0 ? `; failed: ${failures.map((f) => f.split(':')[0]).join(', ')}` : ''}\n`);
  if (values.write === true) {
    writeReport(DOC, { command, date: started, machine, sections: results, failures, seconds, settings: { duration: opts.duration, rounds: opts.rounds, smoke } });
    process.stdout.write(`wrote ${DOC}\n`);
  }
  return failures.length > 0 ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
  process.exitCode = 2;
} finally {
  await cleanupAll();
}
