// docs/benchmarks.md from one run: the tables, the machine, the date and the command, and the
// hand-written profile findings, which are kept from the existing file across rewrites
// (everything between the `<!-- profile -->` and `<!-- /profile -->` markers).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { machineLines, type Machine } from './machine.ts';
import type { SectionResult } from './section.ts';
import { renderMarkdown } from './table.ts';

const OPEN = '<!-- profile -->';
const CLOSE = '<!-- /profile -->';
const PLACEHOLDER = `_Not written yet._ Profile the gateway under the load of a section (for example start it with
\`node --cpu-prof --cpu-prof-dir=/tmp/prof bin/portcullis.js start --config ...\` while pgbench runs, then open
the \`.cpuprofile\` in Chrome DevTools or speedscope) and write down here where the time goes. This part of
the page is kept when \`npm run bench -- --write\` rewrites the rest.`;

export interface Report {
  readonly command: string;
  readonly date: Date;
  readonly machine: Machine;
  readonly sections: readonly SectionResult[];
  readonly failures: readonly string[];
  readonly seconds: number;
  readonly settings: { readonly duration: number; readonly rounds: number; readonly smoke: boolean };
}

/** The profile part of an existing page, markers excluded; undefined when there is none. */
export function keptProfile(existing: string): string | undefined {
  const start = existing.indexOf(OPEN);
  const end = existing.indexOf(CLOSE, start + OPEN.length);
  if (start < 0 || end < 0) return undefined;
  return existing.slice(start + OPEN.length, end).replace(/^\n+|\n+$/g, '');
}

export function renderReport(r: Report, profile: string | undefined): string {
  const out: string[] = [
    '# Benchmarks',
    '',
    '> **Every number on this page comes from one run of the command below, on the machine',
    '> described below.** The load generator, the proxy and the server shared that machine\'s',
    '> cores, so the figures are those of a contended box, not of the gateway alone; on another',
    '> machine they will differ. Run it yourself: `npm run bench` (`--help` lists the options).',
    '',
    ...(r.settings.smoke || r.settings.duration < 10 || r.settings.rounds < 3
      ? [
          `> **This was a short run** (${r.settings.smoke ? 'smoke settings, ' : ''}${r.settings.duration} s per run, ${r.settings.rounds} round${r.settings.rounds === 1 ? '' : 's'}): it shows the`,
          '> format of the page and rough orders of magnitude, not figures to quote. `npm run bench -- --write`',
          '> (20 s per run, 3 rounds) on a quiet machine gives those.',
          '',
        ]
      : []),
    `- command: \`${r.command}\``,
    `- date: ${r.date.toISOString().replace(/\.\d+Z$/, 'Z')} (the run took ${Math.round(r.seconds)} s)`,
    ...machineLines(r.machine).map((l) => `- ${l}`),
    '',
    'Reading the tables: each figure is the median over the rounds, with the paths run in turn',
    'within each round. `vs direct` is the throughput of the path over that of the direct path;',
    '`vs peer` and `p99 vs peer` compare Portcullis with the well-known proxy of the same table',
    '(pgbouncer, nginx, socat). `proxy CPU/op` is the CPU time of the proxy process per operation.',
    '',
  ];
  if (r.failures.length > 0) out.push('**Sections that failed in this run:**', '', ...r.failures.map((f) => `- ${f.split('\n')[0] ?? f}`), '');
  for (const s of r.sections) {
    out.push(`## ${s.name}`, '');
    for (const t of s.tables) out.push(renderMarkdown(t), '');
    if (s.setup.length > 0) out.push('Setup:', '', ...s.setup.map((l) => `- ${l}`), '');
  }
  out.push('## Where the time goes', '', OPEN, profile ?? PLACEHOLDER, CLOSE, '');
  return out.join('\n');
}

export function writeReport(file: string, r: Report): void {
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
  writeFileSync(file, renderReport(r, keptProfile(existing)));
}
