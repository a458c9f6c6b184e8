// Shared fixtures of the MySQL adapter tests: throwaway pcs_test_* databases on the local
// MariaDB (root, empty password, 127.0.0.1:3306), a gateway listening for MySQL on a free
// port, and the mariadb CLI with the token as its password.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { storeDb } from '../../support/store-db.ts';

const run = promisify(execFile);

export const MY_HOST = '127.0.0.1';
export const MY_PORT = 3306;

/** Runs SQL on the real server as root, bypassing the gateway; tab-separated rows. */
export async function adminSql(sql: string): Promise<string> {
  const { stdout } = await run('mariadb', ['-h', MY_HOST, '-P', String(MY_PORT), '-u', 'root', '--skip-ssl', '-N', '-B', '-e', sql]);
  return stdout.trim();
}

export async function createDatabase(): Promise<string> {
  const name = `pcs_test_${randomBytes(5).toString('hex')}`;
  await adminSql(`CREATE DATABASE ${name}`);
  return name;
}

export async function dropDatabase(name: string): Promise<void> {
  await adminSql(`DROP DATABASE IF EXISTS ${name}`);
}

/** `my-db` on `database`; dba may do anything, agents only what `agentRules` allow (default: nothing). */
export function mysqlConfig(database: string, agentRules = '      - { then: deny, reason: agents may not }', extra = ''): string {
  return `
connections:
  - { name: my-db, type: mysql, upstream: { host: ${MY_HOST}, port: ${MY_PORT}, database: ${database}, user: root, tls: disable } }
  - { name: down-db, type: mysql, upstream: { host: 127.0.0.1, port: 1, user: root, tls: disable } }
policies:
  - name: dba-all
    subjects: { groups: [dba] }
    connections: ["*"]
    rules:
      - { then: allow }
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
${agentRules}
${extra}`;
}

export interface MyGateway {
  readonly t: TestGateway;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startMysqlGateway(yaml: string): Promise<MyGateway> {
  const t = await startTestGateway(yaml, process.env, '{ api: "127.0.0.1:0", mysql: "127.0.0.1:0" }');
  const listener = t.gw.listeners.get('mysql');
  if (listener === undefined) throw new Error('the mysql listener did not start');
  return { t, port: listener.port, stop: () => t.stop() };
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The mariadb CLI through the gateway, the token in MYSQL_PWD; never throws on a non-zero exit. */
export function mariadb(gw: MyGateway, token: string, args: readonly string[], opts: { db?: string; input?: string; ssl?: boolean } = {}): Promise<RunResult> {
  const argv = ['-h', '127.0.0.1', '-P', String(gw.port), '-u', 'agent', '-D', opts.db ?? 'my-db', '-N', '-B', '--connect-timeout=10', ...(opts.ssl === true ? ['--ssl'] : ['--skip-ssl']), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('mariadb', argv, { env: { ...process.env, MYSQL_PWD: token }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface RecordedEvent {
  readonly session: string;
  readonly kind: string;
  readonly data: Record<string, unknown>;
}

export async function recordedEvents(gw: MyGateway, kind?: string): Promise<RecordedEvent[]> {
  await gw.t.gw.recorder.flush();
  let q = storeDb(gw.t.gw.services.store).selectFrom('session_events').select(['session_id', 'kind', 'data']).orderBy('id');
  if (kind !== undefined) q = q.where('kind', '=', kind);
  const rows = await q.execute();
  return rows.map((r) => ({ session: r.session_id, kind: r.kind, data: JSON.parse(r.data) as Record<string, unknown> }));
}
