// Whatever a benchmark starts or creates (processes, databases, temp folders) is undone
// whatever happens: in reverse order at the end of a run, on a failure, on Ctrl-C / SIGTERM
// (the asynchronous steps, bounded in time), and on a sudden exit (the synchronous steps:
// every child still running gets SIGTERM).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Step {
  readonly run: () => Promise<void> | void;
  /** For process exit, where nothing asynchronous runs. */
  readonly sync: (() => void) | undefined;
}

const steps: Step[] = [];
const children = new Set<ChildProcess>();
let installed = false;
let cleaning: Promise<void> | undefined;
let interrupted = false;

/** True once a signal asked the run to stop: failures after it are consequences, not news. */
export function isInterrupted(): boolean {
  return interrupted;
}

/** Registers an undo step; the function returned removes it (once it has been done by hand). */
export function onCleanup(run: () => Promise<void> | void, sync?: () => void): () => void {
  install();
  const step: Step = { run, sync };
  steps.push(step);
  return () => {
    const i = steps.indexOf(step);
    if (i >= 0) steps.splice(i, 1);
  };
}

/** A child to SIGTERM if this process exits while it still runs. */
export function track(child: ChildProcess): () => void {
  install();
  children.add(child);
  return () => void children.delete(child);
}

/** A temp folder removed at cleanup. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  onCleanup(remove, remove);
  return dir;
}

/** Runs every registered step, newest first; a failing step is reported and the others still run. */
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (steps.length > 0) {
      const step = steps.pop() as Step;
      try {
        await step.run();
      } catch (err) {
        process.stderr.write(`cleanup: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  })().finally(() => (cleaning = undefined));
  return cleaning;
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const step of steps.splice(0).reverse()) {
      try {
        step.sync?.();
      } catch {
        // best effort while exiting
      }
    }
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(code); // a second Ctrl-C: the synchronous steps only
      interrupted = true;
      process.stderr.write(`\n${signal}: stopping what the benchmark started...\n`);
      const deadline = setTimeout(() => process.exit(code), 20_000);
      void cleanupAll().finally(() => {
        clearTimeout(deadline);
        process.exit(code);
      });
    });
  }
}
