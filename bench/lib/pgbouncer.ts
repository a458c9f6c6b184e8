// pgbouncer (Debian's) in front of the local PostgreSQL: a throwaway ini in a temp folder, a
// free port, no auth (auth_type = any: it logs in upstream as `postgres`), stopped at cleanup.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cleanup.ts';
import { PG } from './postgres.ts';
import { freePort, run, startService, waitForPort, type Service } from './proc.ts';

export interface Pgbouncer {
  readonly port: number;
  readonly version: string;
  /** What the benchmark tables say about it. */
  readonly describe: string;
  readonly service: Service;
  stop(): Promise<void>;
}

export interface PgbouncerOptions {
  /** Databases clients may name; each maps to the same name upstream. */
  readonly databases: readonly string[];
  readonly poolMode: 'session' | 'transaction';
  readonly maxClientConn?: number;
  readonly poolSize?: number;
}

export async function startPgbouncer(opts: PgbouncerOptions): Promise<Pgbouncer> {
  const dir = tempDir('pcs-bench-pgbouncer-');
  chmodSync(dir, 0o755); // pgbouncer drops to the postgres user
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  const maxClientConn = opts.maxClientConn ?? 200;
  const poolSize = opts.poolSize ?? 20;
  writeFileSync(
    ini,
    [
      '[databases]',
      ...opts.databases.map((db) => `${db} = host=${PG.host} port=${PG.port} dbname=${db} user=${PG.user}`),
      '[pgbouncer]',
      `listen_addr = 127.0.0.1`,
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = any',
      `pool_mode = ${opts.poolMode}`,
      `max_client_conn = ${maxClientConn}`,
      `default_pool_size = ${poolSize}`,
      'ignore_startup_parameters = extra_float_digits',
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  // pgbouncer refuses to run as root: -u switches to the postgres user after reading the ini.
  const args = process.getuid?.() === 0 ? ['-u', 'postgres', ini] : [ini];
  const service = startService('pgbouncer', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const alive = (): boolean => service.child.exitCode === null && service.child.signalCode === null;
  if (!(await waitForPort(port, 10_000, alive))) {
    await service.stop();
    throw new Error(`pgbouncer did not start on 127.0.0.1:${port}:\n${service.output()}`);
  }
  const version = (await run('pgbouncer', ['--version'])).stdout.split('\n')[0]?.trim() ?? 'pgbouncer';
  return {
    port,
    version,
    describe: `${version}, pool_mode = ${opts.poolMode}, default_pool_size = ${poolSize}, max_client_conn = ${maxClientConn}`,
    service,
    stop: () => service.stop(),
  };
}
