// The shape shared by every section: workloads measured over paths (direct, a well-known peer,
// Portcullis), interleaved round by round so that a change in the machine's load hits every
// path alike, each figure the median of its rounds; and the comparison table built from them.
import { fmtAuto, fmtMs, fmtRatio, median } from './stats.ts';
import type { Table } from './table.ts';

/** `reference`: a path shown for scale (e.g. a bare relay), compared with direct only. */
export type Role = 'direct' | 'peer' | 'portcullis' | 'reference';

export interface PathSpec {
  readonly key: string;
  readonly label: string;
  readonly role: Role;
}

export interface Measurement {
  readonly throughput: number;
  /** ms */
  readonly p50?: number;
  /** ms */
  readonly p99?: number;
  /** CPU time of the proxy (peer or gateway) per operation, µs. */
  readonly proxyCpuPerOp?: number;
}

export interface Row {
  readonly workload: string;
  readonly path: PathSpec;
  readonly unit: string;
  readonly m: Measurement;
  readonly rounds: number;
}

function medianOf(ms: readonly Measurement[], pick: (m: Measurement) => number | undefined): number | undefined {
  const xs = ms.map(pick).filter((x): x is number => x !== undefined && Number.isFinite(x));
  return xs.length === 0 ? undefined : median(xs);
}

/**
 * Runs `measure` for every workload and path, `rounds` times. Within a round the workloads run
 * in order and the paths alternate, starting one path later each round so that no path is
 * always first after another's load.
 */
export async function interleave<W extends { readonly name: string; readonly unit: string }>(
  rounds: number,
  workloads: readonly W[],
  paths: readonly PathSpec[],
  measure: (w: W, p: PathSpec, round: number) => Promise<Measurement>,
  progress: (line: string) => void,
): Promise<Row[]> {
  const samples = new Map<string, Measurement[]>();
  for (let r = 0; r < rounds; r++) {
    for (const w of workloads) {
      for (let i = 0; i < paths.length; i++) {
        const p = paths[(i + r) % paths.length] as PathSpec;
        const m = await measure(w, p, r);
        progress(`  round ${r + 1}/${rounds}  ${w.name.padEnd(28)} ${p.label.padEnd(26)} ${fmtAuto(m.throughput).padStart(10)} ${w.unit}${m.p99 !== undefined ? `  p50 ${fmtMs(m.p50)}  p99 ${fmtMs(m.p99)}` : ''}`);
        const key = `${w.name}\0${p.key}`;
        samples.set(key, [...(samples.get(key) ?? []), m]);
      }
    }
  }
  const rows: Row[] = [];
  for (const w of workloads) {
    for (const p of paths) {
      const ms = samples.get(`${w.name}\0${p.key}`) ?? [];
      const p50 = medianOf(ms, (m) => m.p50);
      const p99 = medianOf(ms, (m) => m.p99);
      const cpu = medianOf(ms, (m) => m.proxyCpuPerOp);
      rows.push({
        workload: w.name,
        path: p,
        unit: w.unit,
        rounds: ms.length,
        m: { throughput: medianOf(ms, (m) => m.throughput) ?? Number.NaN, ...(p50 !== undefined ? { p50 } : {}), ...(p99 !== undefined ? { p99 } : {}), ...(cpu !== undefined ? { proxyCpuPerOp: cpu } : {}) },
      });
    }
  }
  return rows;
}

export const COMPARISON_HEADERS = ['workload', 'path', 'throughput', 'p50', 'p99', 'vs direct', 'vs peer', 'p99 vs peer', 'proxy CPU/op'] as const;

/** The table of a section: ratios of each path to the direct one, and Portcullis to the peer. */
export function comparisonTable(title: string, rows: readonly Row[], notes: readonly string[] = []): Table {
  const out: string[][] = [];
  for (const row of rows) {
    const same = rows.filter((r) => r.workload === row.workload);
    const direct = same.find((r) => r.path.role === 'direct');
    const peer = same.find((r) => r.path.role === 'peer');
    const vsDirect = row.path.role !== 'direct' && direct !== undefined ? row.m.throughput / direct.m.throughput : undefined;
    const vsPeer = row.path.role === 'portcullis' && peer !== undefined ? row.m.throughput / peer.m.throughput : undefined;
    const p99VsPeer = row.path.role === 'portcullis' && peer?.m.p99 !== undefined && row.m.p99 !== undefined ? row.m.p99 / peer.m.p99 : undefined;
    out.push([
      row.workload,
      row.path.label,
      `${fmtAuto(row.m.throughput)} ${row.unit}`,
      fmtMs(row.m.p50),
      fmtMs(row.m.p99),
      fmtRatio(vsDirect),
      fmtRatio(vsPeer),
      fmtRatio(p99VsPeer),
      row.m.proxyCpuPerOp === undefined ? '-' : fmtMs(row.m.proxyCpuPerOp / 1000),
    ]);
  }
  return { title, headers: COMPARISON_HEADERS, align: ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'], rows: out, notes };
}
