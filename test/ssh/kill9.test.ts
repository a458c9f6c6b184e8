// The durability rule for SSH exec under kill -9 (test/support/kill9.ts): three writers each
// run `echo ID >> file` lines over one SSH connection through the gateway, which is killed
// with SIGKILL three times mid-load. Every line a writer saw exit 0 must have run on the host
// and have its audited decision (the command line) in the store the gateway left behind.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from 'ssh2';
import { killUnderLoad, storeLeftBehind, writerSetup } from '../support/kill9.ts';
import { freePort } from '../support/ports.ts';
import { sshConnectionYaml, startSshd, type TestSshd } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';

const KILLS = 3;

function connect(port: number, token: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({ host: '127.0.0.1', port, username: 'build-box', password: token, readyTimeout: 5_000 });
  });
}

/** The exit code of `command`, once the gateway sent it (null: the channel closed without one). */
function exec(c: Client, command: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, stream) => {
      if (err) return reject(err);
      let code: number | null = null;
      stream.on('exit', (n: number | null) => (code = n));
      stream.on('close', () => resolve(code));
      stream.resume();
      stream.stderr.resume();
    });
  });
}

describe('ssh: no acknowledged exec is lost to kill -9', () => {
  let sshd: TestSshd;
  let dir: string;
  let cfg: string;
  let port: number;
  let token: string;
  let file: string;

  before(async () => {
    sshd = await startSshd();
    file = join(sshd.dir, 'lines.txt');
    dir = tempDir('pcs-kill9-ssh-');
    port = await freePort();
    ({ config: cfg, token } = await writerSetup(dir, sshConnectionYaml('build-box', sshd), `{ api: "127.0.0.1:0", ssh: "127.0.0.1:${port}" }`, '{ match: { ssh: { op: [exec] } }, then: allow }'));
  });

  after(async () => {
    await sshd?.stop();
  });

  it(`keeps the decision of every exec that exited 0 across ${KILLS} kills`, { timeout: 180_000 }, async (t) => {
    const acked: number[] = [];
    let next = 1;
    const writer = async (stopped: () => boolean): Promise<void> => {
      const c = await connect(port, token);
      c.on('error', () => undefined);
      try {
        while (!stopped()) {
          const id = next++;
          if ((await exec(c, `echo ${id} >> ${file}`)) === 0) acked.push(id);
        }
      } finally {
        c.end();
      }
    };
    await killUnderLoad({
      config: cfg,
      kills: KILLS,
      // An exec is a channel and a process on the host: slower than a statement.
      loadMs: 3_000,
      ready: async () => {
        const c = await connect(port, token);
        c.end();
      },
      writers: [writer, writer, writer],
    });
    assert.ok(acked.length > 10, `only ${acked.length} acknowledged lines: the load was too light to mean anything`);

    const ran = new Set(existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : []);
    const audited = new Set(storeLeftBehind(dir).decisions.map((a) => a.command).filter((x): x is string => typeof x === 'string'));
    const lost = acked.filter((id) => !audited.has(`echo ${id} >> ${file}`));
    t.diagnostic(`${acked.length} acknowledged exec lines over ${KILLS} kills, ${lost.length} without a decision`);
    assert.deepEqual(acked.filter((id) => !ran.has(id)), [], 'every acknowledged line ran on the host');
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} of ${acked.length} acknowledged lines have no audited decision`);
  });
});
