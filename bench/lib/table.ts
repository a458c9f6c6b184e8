// A table printed in two ways: padded columns for the terminal, and Markdown for
// docs/benchmarks.md. Cells are strings; numeric columns are right-aligned.

export interface Table {
  readonly title: string;
  readonly headers: readonly string[];
  /** 'r' for numbers; 'l' by default. */
  readonly align?: readonly ('l' | 'r')[];
  readonly rows: readonly (readonly string[])[];
  /** Lines printed under the table (both renderings). */
  readonly notes?: readonly string[];
}

export function renderText(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const cell = (s: string, i: number): string => (t.align?.[i] === 'r' ? s.padStart(widths[i] as number) : s.padEnd(widths[i] as number));
  const line = (cells: readonly string[]): string => cells.map((c, i) => cell(c, i)).join('  ').trimEnd();
  return [t.title, line(t.headers), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line), ...(t.notes ?? []).map((n) => `  ${n}`)].join('\n');
}

export function renderMarkdown(t: Table, heading = '###'): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const sep = t.headers.map((_, i) => (t.align?.[i] === 'r' ? '---:' : '---'));
  return [
    `${heading} ${t.title}`,
    '',
    `| ${t.headers.map(esc).join(' | ')} |`,
    `| ${sep.join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
    ...(t.notes !== undefined && t.notes.length > 0 ? ['', ...t.notes.map((n) => `- ${n}`)] : []),
  ].join('\n');
}
