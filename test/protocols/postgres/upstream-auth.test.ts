// Upstream login with real password methods and TLS modes: a throwaway cluster (initdb as the
// postgres user, ssl on) with SCRAM-SHA-256 for one role and md5 for another. The agent never sees the
// upstream password, not even when it is wrong.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { testSecret } from '../../support/secrets.ts';
import { startPgGateway, type PgGateway } from './support.ts';
import { freePort } from '../../support/ports.ts';

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';
const PASSWORD = testSecret('upstream-pg');
const WRONG = testSecret('upstream-pg-wrong');


/** Runs a command as the postgres user (initdb refuses root). */
function asPostgres(cmd: string, args: string[], input?: string): Promise<{ stdout: string }> {
  const p = run('runuser', ['-u', 'postgres', '--', cmd, ...args]);
  if (input !== undefined) {
    p.child.stdin?.end(input);
  }
  return p;
}

async function makeCertificates(dir: string): Promise<void> {
  const ssl = (args: string[]): Promise<unknown> => run('openssl', args, { cwd: dir });
  for (const ca of ['ca', 'other-ca']) {
    await ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.crt`]);
  }
  await ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName = IP:127.0.0.1\n');
  await ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.crt']);
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  for (const f of ['server.key', 'server.crt']) chownSync(join(dir, f), uid, gid);
  chmodSync(join(dir, 'server.key'), 0o600);
}

describe('postgres upstream authentication', () => {
  let dir: string;
  let port: number;
  let gw: PgGateway;

  before(async () => {
    // Outside the test temp folder: the cluster's own files are not output of the gateway.
    dir = mkdtempSync(join(tmpdir(), 'pcs-pgcluster-'));
    chownSync(dir, Number((await run('id', ['-u', 'postgres'])).stdout.trim()), Number((await run('id', ['-g', 'postgres'])).stdout.trim()));
    port = await freePort();
    await asPostgres(`${BIN}/initdb`, ['-D', join(dir, 'data'), '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync']);
    writeFileSync(join(dir, 'data', 'pg_hba.conf'), 'local all all trust\nhost all md5_user 127.0.0.1/32 md5\nhost all all 127.0.0.1/32 scram-sha-256\n');
    // TLS on the server: a throwaway CA signs a certificate for 127.0.0.1 (verify-full checks
    // the IP address); a second CA that signed nothing plays the wrong one.
    await makeCertificates(dir);
    await asPostgres(`${BIN}/pg_ctl`, ['-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c password_encryption=scram-sha-256 -c fsync=off -c ssl=on -c ssl_cert_file=${dir}/server.crt -c ssl_key_file=${dir}/server.key`, 'start']);
    // The password goes through stdin, never on a command line.
    const sql = `CREATE ROLE scram_user LOGIN PASSWORD '${PASSWORD}';\nSET password_encryption = 'md5';\nCREATE ROLE md5_user LOGIN PASSWORD '${PASSWORD}';\n`;
    await new Promise<void>((resolve, reject) => {
      const child = execFile('runuser', ['-u', 'postgres', '--', 'psql', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-XAtq', '-v', 'ON_ERROR_STOP=1'], (err) => (err ? reject(err) : resolve()));
      child.stdin?.end(sql);
    });
    gw = await startPgGateway(
      `
connections:
  - { name: scram-db, type: postgres, upstream: { host: 127.0.0.1, port: ${port}, database: postgres, user: scram_user, tls: disable } }
  - { name: md5-db, type: postgres, upstream: { host: 127.0.0.1, port: ${port}, database: postgres, user: md5_user, tls: prefer, password: "\${env:PCS_TEST_UPSTREAM_PW}" } }
  - { name: wrong-db, type: postgres, upstream: { host: 127.0.0.1, port: ${port}, database: postgres, user: scram_user, tls: disable } }
  - { name: tls-require, type: postgres, upstream: { host: 127.0.0.1, port: ${port}, database: postgres, user: md5_user, tls: require, password: "\${env:PCS_TEST_UPSTREAM_PW}" } }
  - { name: tls-verify, type: postgres, upstream: { host: 127.0.0.1, port: ${port}, database: postgres, user: md5_user, tls: verify-full, ca: "${dir}/ca.crt", password: "\${env:PCS_TEST_UPSTREAM_PW}" } }
  - { name: tls-wrong-ca, type: postgres, upstream: { host: 127.0.0.1, port: ${port}, database: postgres, user: md5_user, tls: verify-full, ca: "${dir}/other-ca.crt", password: "\${env:PCS_TEST_UPSTREAM_PW}" } }
  - { name: no-cred, type: postgres, upstream: { host: 127.0.0.1, port: ${port}, database: postgres, user: scram_user, tls: disable } }
  - { name: tls-missing, type: postgres, upstream: { host: 127.0.0.1, port: 5432, database: postgres, user: postgres, tls: require } }
policies:
  - { name: everyone, subjects: { groups: [agents] }, connections: ["*"], rules: [{ then: allow }] }
`,
      { ...process.env, PCS_TEST_UPSTREAM_PW: PASSWORD },
    );
    await gw.t.gw.services.credentials.set('scram-db', PASSWORD, { kind: 'password', actor: 'test' });
    await gw.t.gw.services.credentials.set('wrong-db', WRONG, { kind: 'password', actor: 'test' });
  });

  after(async () => {
    await gw?.stop();
    if (dir) {
      await asPostgres(`${BIN}/pg_ctl`, ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  async function connectTo(database: string): Promise<pg.Client> {
    const token = await gw.t.token('agent-bot', ['agents']);
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, database, user: 'agent', password: token });
    await c.connect();
    return c;
  }

  it('logs in with SCRAM-SHA-256 using the vaulted credential', async () => {
    const c = await connectTo('scram-db');
    assert.equal((await c.query('select current_user as u')).rows[0]?.u, 'scram_user');
    await c.end();
  });

  it('logs in with md5 using the inline (env) password', async () => {
    const c = await connectTo('md5-db');
    assert.equal((await c.query('select current_user as u')).rows[0]?.u, 'md5_user');
    await c.end();
  });

  it('speaks TLS upstream with require and verify-full, and refuses a certificate from another CA', async () => {
    for (const name of ['tls-require', 'tls-verify']) {
      const c = await connectTo(name);
      assert.equal((await c.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows[0]?.ssl, true, name);
      await c.end();
    }
    await assert.rejects(connectTo('tls-wrong-ca'), (err: { code?: string; message: string }) => {
      assert.equal(err.code, '08006', err.message);
      assert.match(err.message, /tls-wrong-ca/);
      return true;
    });
    // The machine's own server runs without TLS: `require` must not fall back to plaintext.
    await assert.rejects(connectTo('tls-missing'), (err: { code?: string; message: string }) => {
      assert.match(err.message, /tls-missing/);
      return true;
    });
  });

  it('tells the agent when the connection has no credential, and how an operator sets one', async () => {
    await assert.rejects(connectTo('no-cred'), (err: { code?: string; message: string }) => {
      assert.equal(err.code, '28000');
      assert.match(err.message, /connection no-cred has no credential; set one with `portcullis credential set no-cred`/);
      return true;
    });
  });

  it('reports a wrong upstream password as 28000 without revealing it', async () => {
    await assert.rejects(connectTo('wrong-db'), (err: { code?: string; message: string }) => {
      assert.equal(err.code, '28000');
      assert.match(err.message, /could not log in to the database server of connection wrong-db/);
      assert.doesNotMatch(err.message, /pcsTESTsecret|scram_user|password authentication failed/);
      return true;
    });
  });
});
