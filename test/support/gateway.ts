// Starts a real gateway for a test: its own temp folder, SQLite store, generated keys, the
// admin API on a free port, and logs written to a file (scanned for leaked secrets).
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { startGateway, type RunningGateway } from '../../src/runtime/gateway.ts';
import { tempDir } from './tmp.ts';

export interface TestGateway {
  readonly gw: RunningGateway;
  readonly dir: string;
  readonly configFile: string;
  readonly url: string;
  token(subject: string, groups?: string[], roles?: string[]): Promise<string>;
  stop(): Promise<void>;
}

export const BASE_CONFIG = (dir: string, listen = '{ api: "127.0.0.1:0" }'): string => `
listen: ${listen}
store: "sqlite:${join(dir, 'portcullis.db')}"
data_dir: "${dir}"
vault: { master_key_file: "${join(dir, 'master.key')}", generate_if_missing: true }
identity: { local_issuer: {}, admin_groups: [admins] }
log: { level: debug }
shutdown: { grace: 2s }
`;

/** One PostgreSQL connection and a read-only policy for the `agents` group. */
export const READ_ONLY_AGENTS = `
connections:
  - { name: app-db, type: postgres, upstream: { host: 127.0.0.1, database: test, user: postgres } }
policies:
  - name: agents-read-only
    subjects: { groups: [agents] }
    connections: [app-db]
    rules:
      - { match: { sql: { effect: [read] } }, then: allow }
      - { then: deny, reason: agents may only read }
`;

export function writeTestConfig(dir: string, extra = '', listen?: string): string {
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, BASE_CONFIG(dir, listen) + extra);
  return file;
}

/** `listen` replaces the base `listen` mapping, e.g. `{ api: "127.0.0.1:0", postgres: "127.0.0.1:0" }`. */
export async function startTestGateway(extra = '', env: NodeJS.ProcessEnv = process.env, listen?: string): Promise<TestGateway> {
  const dir = tempDir('pcs-gw-');
  const configFile = writeTestConfig(dir, extra, listen);
  const loaded = loadConfig(configFile, env);
  const logger = createLogger('debug', pino.destination({ dest: join(dir, 'gateway.log'), sync: true }));
  // Every admin API answer goes to a file the test runner scans for leaked secrets.
  const answers = join(dir, 'api-answers.log');
  const gw = await startGateway(loaded, logger, { onApiAnswer: (a) => appendFileSync(answers, `${a.method} ${a.url} ${a.status}\n${a.body}\n`) });
  return {
    gw,
    dir,
    configFile,
    url: gw.api.url,
    token: async (subject, groups = [], roles = []) => (await gw.services.localIssuer.issue({ subject, groups, roles, issuedBy: 'test' })).token,
    stop: () => gw.stop('test done'),
  };
}

/** A test gateway with the SSH listener open too (`extra` as for startTestGateway), and that listener's port. */
export async function startSshTestGateway(extra: string): Promise<{ t: TestGateway; port: number }> {
  const t = await startTestGateway(extra, process.env, '{ api: "127.0.0.1:0", ssh: "127.0.0.1:0" }');
  return { t, port: t.gw.listeners.get('ssh')?.port ?? 0 };
}
