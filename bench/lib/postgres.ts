// The local PostgreSQL server (127.0.0.1:5432, trust auth for `postgres`), reached with psql
// as the superuser: throwaway databases that are dropped at cleanup, even on Ctrl-C.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { onCleanup } from './cleanup.ts';
import { runOk } from './proc.ts';

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;

const psqlArgs = (database: string, sql: string): string[] => ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-d', database, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql];

/** Runs SQL on the server directly; the output of the last statement, trimmed. */
export async function adminSql(sql: string, database = 'postgres'): Promise<string> {
  return (await runOk('psql', psqlArgs(database, sql), { timeoutMs: 30 * 60_000 })).stdout.trim();
}

/** A fresh database named `<prefix>_<random>`, dropped at cleanup. */
export async function createDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await adminSql(`CREATE DATABASE ${name}`);
  const drop = `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`;
  onCleanup(
    async () => void (await adminSql(drop)),
    () => void spawnSync('psql', psqlArgs('postgres', drop), { stdio: 'ignore', timeout: 10_000 }),
  );
  return name;
}

export async function serverVersion(): Promise<string> {
  return adminSql('SHOW server_version');
}

/** Connections the server can still take from us: max_connections minus reserved and open ones. */
export async function freeConnections(): Promise<{ max: number; free: number }> {
  const [max, reserved, used] = (await adminSql("SELECT current_setting('max_connections'), current_setting('superuser_reserved_connections'), (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')")).split('|').map(Number);
  return { max: max ?? 0, free: (max ?? 0) - (reserved ?? 0) - (used ?? 0) };
}
