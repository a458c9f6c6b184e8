// What bench/run.ts gives a section and gets back from it.
import type { Table } from './table.ts';

export interface SectionOptions {
  /** Seconds per measured run (pgbench -T, wrk -d; the time box of repeated queries). */
  readonly duration: number;
  readonly rounds: number;
  /** Seconds of unmeasured load per workload and path before the rounds (0: none). */
  readonly warmup: number;
  /** Scaled down to keep the scripts working in a test: tiny data, few sessions. */
  readonly smoke: boolean;
  /** Progress lines (stderr), not part of the report. */
  readonly log: (line: string) => void;
}

export interface SectionResult {
  readonly name: string;
  readonly tables: readonly Table[];
  /** How the section was set up: printed under its tables and written to the docs. */
  readonly setup: readonly string[];
}

export type Section = (opts: SectionOptions) => Promise<SectionResult>;
