// wrk runs and what they print (`--latency` adds the percentile distribution).
import { run } from './proc.ts';

export interface WrkShape {
  readonly threads: number;
  readonly connections: number;
  readonly seconds: number;
}

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly bytesRead: number;
  /** ms */
  readonly p50: number;
  /** ms */
  readonly p99: number;
  readonly non2xx: number;
  readonly socketErrors: string | null;
}

export function wrkArgs(url: string, shape: WrkShape, headers: readonly string[] = []): string[] {
  return [`-t${shape.threads}`, `-c${shape.connections}`, `-d${shape.seconds}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url];
}

/** Runs wrk; throws when it fails or when any response was not 2xx/3xx or a socket failed. */
export async function runWrk(url: string, shape: WrkShape, headers: readonly string[] = [], opts: { allowErrors?: boolean } = {}): Promise<WrkResult> {
  const r = await run('wrk', wrkArgs(url, shape, headers), { timeoutMs: (shape.seconds * 3 + 60) * 1000 });
  if (r.code !== 0) throw new Error(`wrk exited ${String(r.code)}: ${r.stderr}${r.stdout}`);
  const w = parseWrk(r.stdout);
  if (opts.allowErrors !== true && (w.non2xx > 0 || w.socketErrors !== null)) {
    throw new Error(`wrk ${url}: ${w.non2xx} non-2xx responses, socket errors: ${w.socketErrors ?? 'none'}\n${r.stdout}`);
  }
  return w;
}

/** wrk's durations (`812.00us`, `1.25ms`, `2.01s`, `1.00m`) in milliseconds. */
export function wrkDurationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (m === null) throw new Error(`cannot read the wrk duration "${text}"`);
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

/** wrk's sizes (`512B`, `1.25KB`, `3.10MB`) in bytes. */
export function wrkBytes(text: string): number {
  const m = /^([\d.]+)(B|KB|MB|GB)$/.exec(text.trim());
  if (m === null) throw new Error(`cannot read the wrk size "${text}"`);
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] as 'B' | 'KB' | 'MB' | 'GB'];
  return Number(m[1]) * unit;
}

export function parseWrk(out: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (total === null || rps === null || p50 === null || p99 === null) throw new Error(`cannot read wrk's output:\n${out}`);
  const socket = /Socket errors: (.*)/.exec(out);
  return {
    requests: Number(total[1]),
    seconds: wrkDurationMs(total[2] as string) / 1000,
    bytesRead: wrkBytes(total[3] as string),
    rps: Number(rps[1]),
    p50: wrkDurationMs(p50[1] as string),
    p99: wrkDurationMs(p99[1] as string),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: socket?.[1]?.trim() ?? null,
  };
}
