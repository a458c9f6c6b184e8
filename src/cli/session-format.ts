// Text rendering of recorded sessions for `portcullis sessions list|show`: one aligned line per
// session, and a session's events with the statement text on lines of its own, so that a
// human can read what an agent did top to bottom.
import type { SessionEvent, SessionSummary } from '../recorder/reader.ts';

export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** A rule as recorded: a RuleRef `{policy, index, name?}` or already a string. */
export function formatRule(rule: unknown): string {
  if (typeof rule === 'string') return rule;
  if (rule !== null && typeof rule === 'object' && 'policy' in rule) {
    const r = rule as { policy: unknown; index?: unknown; name?: unknown };
    return `${String(r.policy)} rule ${String(r.index ?? '?')}${typeof r.name === 'string' ? ` (${r.name})` : ''}`;
  }
  return 'no rule';
}

const LIST_COLUMNS = ['ID', 'SUBJECT', 'CONNECTION', 'PROTOCOL', 'CLIENT', 'STARTED', 'DURATION', 'STMTS', 'IN', 'OUT', 'STATUS'] as const;

function listRow(s: SessionSummary): string[] {
  return [
    s.id,
    s.subject,
    s.connection,
    s.protocol,
    s.clientAddr ?? '-',
    formatTime(s.startedAt),
    s.endedAt === null ? 'active' : formatDuration(s.endedAt - s.startedAt),
    String(s.statements),
    formatBytes(s.bytesIn),
    formatBytes(s.bytesOut),
    s.dropped > 0 ? `${s.status} (${s.dropped} events dropped)` : s.status,
  ];
}

/** A header and one line per session, columns aligned. */
export function formatList(sessions: readonly SessionSummary[]): string {
  const rows = [[...LIST_COLUMNS], ...sessions.map(listRow)];
  const widths = LIST_COLUMNS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

export function formatHeader(s: SessionSummary): string {
  const lines = [
    `session     ${s.id}`,
    `subject     ${s.subject}`,
    `connection  ${s.connection} (${s.protocol})`,
    `client      ${s.clientAddr ?? '-'}`,
    `started     ${formatTime(s.startedAt)}`,
    s.endedAt === null ? `ended       - (active)` : `ended       ${formatTime(s.endedAt)} after ${formatDuration(s.endedAt - s.startedAt)}, ${s.status}`,
    `totals      ${s.statements} statements, ${formatBytes(s.bytesIn)} in, ${formatBytes(s.bytesOut)} out`,
  ];
  if (s.dropped > 0) lines.push(`dropped     ${s.dropped} events (the recorder was overloaded or the store failing)`);
  if (s.summary) lines.push(`summary     ${JSON.stringify(s.summary)}`);
  return lines.join('\n') + '\n';
}

const INDENT = '    ';

/** Statement events: `statement` (allowed, forwarded) and `denied` (refused, never forwarded). */
const STATEMENT_KINDS: ReadonlySet<string> = new Set(['statement', 'denied']);

function statementLines(data: Record<string, unknown>): string[] {
  const facts: string[] = [String(data.verdict ?? '?')];
  if ('rule' in data) facts.push(formatRule(data.rule));
  if (typeof data.rows === 'number') facts.push(`rows ${data.rows}`);
  if (typeof data.duration_ms === 'number') facts.push(`${data.duration_ms}ms`);
  if (typeof data.sqlstate === 'string') facts.push(`sqlstate ${data.sqlstate}`);
  const out = [facts.join('  ')];
  if (typeof data.reason === 'string' && data.verdict !== 'allow') out.push(`${INDENT}reason: ${data.reason}`);
  if (typeof data.error === 'string') out.push(`${INDENT}error: ${data.error}`);
  if (typeof data.text === 'string') for (const line of data.text.split('\n')) out.push(INDENT + line);
  if (data.params !== undefined && data.params !== null) out.push(`${INDENT}params: ${JSON.stringify(data.params)}`);
  return out;
}

/** One event: offset from the session start, kind, then what matters for that kind. */
export function formatEvent(e: SessionEvent, startedAt: number): string {
  const offset = `+${((e.at - startedAt) / 1000).toFixed(3)}s`.padStart(10);
  if (STATEMENT_KINDS.has(e.kind)) {
    const [first, ...rest] = statementLines(e.data);
    return [`${offset}  ${e.kind.padEnd(9)}  ${first}`, ...rest.map((l) => ' '.repeat(12) + l)].join('\n') + '\n';
  }
  if (e.kind === 'dropped') return `${offset}  dropped    ${String(e.data.count)} events were not recorded\n`;
  const terminal = terminalLine(e.kind, e.data);
  if (terminal !== undefined) return `${offset}  ${e.kind.padEnd(9)}  ${terminal}\n`;
  return `${offset}  ${e.kind.padEnd(9)}  ${JSON.stringify(e.data)}\n`;
}

/** Shell events (src/recorder/asciicast.ts, src/protocols/ssh/shell.ts) in a line each; the terminal stream itself is for `sessions replay`. */
function terminalLine(kind: string, data: Record<string, unknown>): string | undefined {
  if (kind === 'cast' && Array.isArray(data.events)) {
    const counts = { o: 0, i: 0, r: 0 };
    let bytes = 0;
    for (const item of data.events as unknown[]) {
      const [, code, text] = Array.isArray(item) ? (item as unknown[]) : [];
      if (code === 'o' || code === 'i' || code === 'r') counts[code]++;
      if (code === 'o' && typeof text === 'string') bytes += Buffer.byteLength(text);
    }
    return `shell ${String(data.shell)}: ${counts.o} output (${formatBytes(bytes)}), ${counts.i} input, ${counts.r} resize`;
  }
  if (kind === 'typed') {
    if (data.echoed === false) return `shell ${String(data.shell)}: a line typed without echo (not recorded)`;
    const verdict = typeof data.policy_verdict === 'string' ? `${data.policy_verdict}  ${formatRule(data.policy_rule ?? null)}` : 'no verdict';
    return `shell ${String(data.shell)}: ${verdict}${data.edited === true ? '  (edited: may differ from what ran)' : ''}\n${' '.repeat(16)}${String(data.line)}`;
  }
  if (kind === 'shell' && data.phase === 'start') {
    const size = typeof data.cols === 'number' && data.cols > 0 ? ` ${data.cols}x${String(data.rows)}` : '';
    return `shell ${String(data.shell)} started: ${data.term === null ? 'no PTY' : `${String(data.term)}${size}`}`;
  }
  if (kind === 'shell' && data.phase === 'end') {
    const duration = typeof data.duration_ms === 'number' ? ` after ${formatDuration(data.duration_ms)}` : '';
    return `shell ${String(data.shell)} ended: exit ${String(data.exit)}${duration}, ${formatBytes(Number(data.bytes_in) || 0)} in, ${formatBytes(Number(data.bytes_out) || 0)} out`;
  }
  return undefined;
}
