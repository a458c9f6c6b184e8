// The harness of the durability tests: the gateway runs as its own process, writers load it,
// and it is killed with SIGKILL several times mid-load. What a writer saw acknowledged is
// compared afterwards with what the store the gateway left behind holds.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { BIN, runCli } from './cli.ts';
import { writeTestConfig } from './gateway.ts';

export interface KillRun {
  readonly config: string;
  /** Resolves once the gateway serves (polled until it does, 30 s at most). */
  readonly ready: () => Promise<void>;
  readonly kills: number;
  /** How long each gateway runs under load before its kill (the rounds add 300 ms each); default 700 ms. */
  readonly loadMs?: number;
  /** One writer: loops until `stopped()`, calling `ack` for what it saw acknowledged; a failure ends it quietly. */
  readonly writers: readonly ((stopped: () => boolean) => Promise<void>)[];
}

/** Runs the writers against `kills` successive gateway processes, each killed with SIGKILL after a while. */
export async function killUnderLoad(run: KillRun): Promise<void> {
  for (let round = 0; round < run.kills; round++) {
    const child = spawn(process.execPath, [BIN, 'start', '--config', run.config], { stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      await waitReady(run.ready, child);
      let stop = false;
      const writers = run.writers.map((w) => w(() => stop).catch(() => undefined));
      await new Promise((r) => setTimeout(r, (run.loadMs ?? 700) + round * 300));
      child.kill('SIGKILL');
      stop = true;
      await exited(child);
      await Promise.all(writers);
    } finally {
      child.kill('SIGKILL');
    }
  }
}

async function waitReady(ready: () => Promise<void>, child: ChildProcess): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode} before it served`);
    try {
      return await ready();
    } catch {
      if (Date.now() > until) throw new Error('the gateway did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** What the store in `dir` kept: audited decisions' actions and recorded events' data, by type / kind. */
export function storeLeftBehind(dir: string): { readonly decisions: Record<string, unknown>[]; readonly events: (kind: string) => Record<string, unknown>[] } {
  const store = new SQLite(join(dir, 'portcullis.db'), { readonly: true });
  try {
    const decisions = (store.prepare("SELECT data FROM audit WHERE type = 'policy.decision'").all() as { data: string }[]).map((r) => (JSON.parse(r.data) as { action?: Record<string, unknown> }).action ?? {});
    const rows = store.prepare('SELECT kind, data FROM session_events').all() as { kind: string; data: string }[];
    const events = (kind: string): Record<string, unknown>[] => rows.filter((r) => r.kind === kind).map((r) => JSON.parse(r.data) as Record<string, unknown>);
    return { decisions, events };
  } finally {
    store.close();
  }
}

/**
 * A config in `dir` with `connection` (one YAML flow mapping), a `writers` policy that allows
 * everything (the rule under test is not policy), `listen` as given; and a token for it.
 */
export async function writerSetup(dir: string, connection: string, listen: string, rule = '{ then: allow }'): Promise<{ readonly config: string; readonly token: string }> {
  const config = writeTestConfig(
    dir,
    `
connections:
  - ${connection}
policies:
  - name: writers
    subjects: { groups: [writers] }
    connections: ["*"]
    rules:
      - ${rule}
`,
    listen,
  );
  const issued = await runCli(['token', 'issue', '--subject', 'writer-bot', '--group', 'writers', '--ttl', '1h', '--config', config]);
  if (issued.code !== 0) throw new Error(`token issue failed: ${issued.stderr}`);
  return { config, token: issued.stdout.trim() };
}
