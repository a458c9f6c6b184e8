// SFTP and scp through the SSH gateway with the real OpenSSH tools against a real sshd: every
// request decided by file operation and normalised path (`match.ssh.file_op` and `path`),
// refused ones answered by the gateway and never reaching the host, allowed uploads intact,
// legacy `scp -O` lines decided as sftp reads and writes, and the operations recorded.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2, { type ClientChannel } from 'ssh2';
import { FX, FXP, SftpFramer } from '../../src/protocols/ssh/sftp-packets.ts';
import { startSshTestGateway, type TestGateway } from '../support/gateway.ts';
import { withToken, type ClientProcess, type ClientRun } from '../support/ssh-client.ts';
import { sshConnectionYaml, startSshd, type TestSshd } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';
import { storeDb } from '../support/store-db.ts';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('SFTP and scp through the SSH gateway', () => {
  let sshd: TestSshd;
  let t: TestGateway;
  let port: number;
  let local: string;
  let token: string;
  // Upstream folders (sshd.dir): up/ takes writes, secret/ is denied, other/ is read-only.
  let up: string;
  let other: string;
  let secret: string;

  /**
   * Runs an OpenSSH tool through the gateway; the token is answered through SSH_ASKPASS.
   * `sftp -b` turns BatchMode on (no password prompt) unless an earlier option says otherwise.
   */
  const tool = (cmd: 'sftp' | 'scp', args: readonly string[], input = ''): ClientProcess => withToken(cmd, port, token, ['-o', 'BatchMode=no', ...args], { input });
  const batch = (...commands: string[]): Promise<ClientRun> => tool('sftp', ['-b', '-', 'build-box@127.0.0.1'], commands.join('\n') + '\n').done;
  const scp = (args: readonly string[]): Promise<ClientRun> => tool('scp', args).done;
  const remote = (path: string): string => `build-box@127.0.0.1:${path}`;

  before(async () => {
    sshd = await startSshd();
    local = tempDir('pcs-sftp-local-');
    up = join(sshd.dir, 'up');
    other = join(sshd.dir, 'other');
    secret = join(sshd.dir, 'secret');
    for (const d of [up, other, secret]) mkdirSync(d);
    writeFileSync(join(other, 'readable.txt'), 'readable\n');
    writeFileSync(join(other, 'keep.txt'), 'keep\n');
    writeFileSync(join(secret, 'key.txt'), 'secret\n');
    ({ t, port } = await startSshTestGateway(
      `
connections:
  - ${sshConnectionYaml('build-box', sshd)}
policies:
  - name: files
    subjects: { groups: [agents] }
    connections: [build-box]
    rules:
      - { name: no-secrets, match: { ssh: { path: ["${secret}/**"] } }, then: deny, reason: secrets stay on the host }
      - { name: held-removal, match: { ssh: { file_op: [remove], path: ["${up}/held/**"] } }, then: review, review: { mode: hold, timeout: 30s, approvers: { groups: [ops] } } }
      - { name: deferred-mkdir, match: { ssh: { file_op: [mkdir], path: ["${up}/deferred/**"] } }, then: review, review: { mode: defer, timeout: 60s, approvers: { groups: [ops] } } }
      - { name: uploads, match: { ssh: { file_op: [write, mkdir, rename, remove], path: ["${up}/**"] } }, then: allow }
      - { name: browse, match: { ssh: { file_op: [read, list, stat], path: ["${sshd.dir}/**", "~"] } }, then: allow }
      - { then: deny, reason: not on this host }
`,
    ));
    token = await t.token('agent-bot', ['agents']);
  });

  after(async () => {
    await t?.stop();
    await sshd?.stop();
  });

  it('uploads where writes are allowed, bytes intact, and refuses elsewhere', async () => {
    // Several SFTP packets of data, not a multiple of the client's 32 KiB blocks.
    const data = Buffer.alloc(300_000 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 8)) & 0xff;
    writeFileSync(join(local, 'big.bin'), data);
    const ok = await batch(`put ${join(local, 'big.bin')} ${up}/big.bin`);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(sha256(readFileSync(join(up, 'big.bin'))), sha256(data));

    const refused = await batch(`put ${join(local, 'big.bin')} ${other}/big.bin`);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Permission denied/);
    assert.equal(existsSync(join(other, 'big.bin')), false);
  });

  it('downloads what may be read, not what is denied', async () => {
    const ok = await batch(`get ${other}/readable.txt ${local}/readable.txt`);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(readFileSync(join(local, 'readable.txt'), 'utf8'), 'readable\n');
    // sftp stats the file first: refused there, it reports the file as not found.
    const refused = await batch(`get ${secret}/key.txt ${local}/key.txt`);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Permission denied|not found/);
    assert.equal(existsSync(join(local, 'key.txt')), false);
  });

  it('refuses rm, rename, mkdir, chmod and links outside the writable folder, and allows them inside', async () => {
    const commands = [`rm ${other}/keep.txt`, `rename ${other}/keep.txt ${up}/stolen.txt`, `rename ${up}/big.bin ${other}/big.bin`, `mkdir ${other}/new`, `chmod 600 ${other}/keep.txt`, `ln -s ${secret}/key.txt ${up}/key-link`];
    for (const command of commands) {
      const r = await batch(command);
      assert.notEqual(r.code, 0, command);
      assert.match(r.stderr, /Permission denied|Couldn't|failed/, command);
    }
    assert.equal(readFileSync(join(other, 'keep.txt'), 'utf8'), 'keep\n');
    assert.equal(existsSync(join(up, 'stolen.txt')), false);
    assert.equal(existsSync(join(other, 'new')), false);
    assert.equal(existsSync(join(up, 'key-link')), false, 'no link out of the writable folder');
    const ok = await batch(`mkdir ${up}/made`, `put ${join(local, 'readable.txt')} ${up}/made/a.txt`, `rename ${up}/made/a.txt ${up}/made/b.txt`, `rm ${up}/made/b.txt`, `ln -s ${up}/big.bin ${up}/made/link`, `ls ${up}/made`);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(existsSync(join(up, 'made')), true);
    assert.equal(existsSync(join(up, 'made', 'b.txt')), false);
    assert.equal(readlinkSync(join(up, 'made', 'link')), `${up}/big.bin`);
  });

  it('decides relative paths and .. on the normalised path', async () => {
    writeFileSync(join(local, 'x.txt'), 'x\n');
    // sftp resolves against its working directory and sends `up/../../x.txt` unresolved.
    const escape = await batch(`cd ${sshd.dir}`, `put ${join(local, 'x.txt')} up/../../escaped.txt`);
    assert.notEqual(escape.code, 0);
    assert.equal(existsSync(join(dirname(sshd.dir), 'escaped.txt')), false);
    const inside = await batch(`cd ${up}`, `put ${join(local, 'x.txt')} ../up/./inside.txt`);
    assert.equal(inside.code, 0, inside.stderr);
    assert.equal(readFileSync(join(up, 'inside.txt'), 'utf8'), 'x\n');
    // scp (SFTP mode) sends a relative path as written: the gateway resolves it against the
    // home directory, as the server does.
    const home = (await batch('pwd')).stdout.match(/Remote working directory: (\S+)/)?.[1] ?? '';
    assert.ok(home.startsWith('/'), 'the home directory');
    const fromHome = `${'../'.repeat(home.split('/').filter(Boolean).length)}${up.slice(1)}`;
    const rel = await scp([join(local, 'x.txt'), remote(`${fromHome}/relative.txt`)]);
    assert.equal(rel.code, 0, rel.stderr);
    assert.equal(existsSync(join(up, 'relative.txt')), true);
    const relOut = await scp([join(local, 'x.txt'), remote(`${fromHome}/../../relative-escape.txt`)]);
    assert.notEqual(relOut.code, 0);
    assert.equal(existsSync(join(dirname(sshd.dir), 'relative-escape.txt')), false);
  });

  for (const mode of [[], ['-O']]) {
    const name = mode.length === 0 ? 'scp (SFTP protocol)' : 'scp -O (legacy protocol, an exec line)';
    it(`${name}: upload and download decided by path`, async () => {
      const file = `scp${mode.join('')}.txt`;
      const content = Buffer.from(`scp ${mode.join('')} content\n`.repeat(1000));
      writeFileSync(join(local, file), content);
      const upOk = await scp([...mode, join(local, file), remote(`${up}/${file}`)]);
      assert.equal(upOk.code, 0, upOk.stderr);
      assert.equal(sha256(readFileSync(join(up, file))), sha256(content));
      const upRefused = await scp([...mode, join(local, file), remote(`${other}/${file}`)]);
      assert.notEqual(upRefused.code, 0);
      assert.equal(existsSync(join(other, file)), false);
      const downOk = await scp([...mode, remote(`${other}/readable.txt`), join(local, `down${mode.join('')}.txt`)]);
      assert.equal(downOk.code, 0, downOk.stderr);
      assert.equal(readFileSync(join(local, `down${mode.join('')}.txt`), 'utf8'), 'readable\n');
      const downRefused = await scp([...mode, remote(`${secret}/key.txt`), join(local, `key${mode.join('')}.txt`)]);
      assert.notEqual(downRefused.code, 0);
      assert.equal(existsSync(join(local, `key${mode.join('')}.txt`)), false);
    });
  }

  const approve = async (id: string): Promise<void> => {
    const ops = await t.token('olga', ['ops']);
    const res = await fetch(`${t.gw.api.url}/api/v1/reviews/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${ops}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 200, await res.text());
  };

  it('holds an operation for review (the agent is told on stderr) and runs it once approved', async () => {
    mkdirSync(join(up, 'held'));
    writeFileSync(join(up, 'held', 'x.txt'), 'x\n');
    const run = tool('sftp', ['-b', '-', 'build-box@127.0.0.1'], `rm ${up}/held/x.txt\nls ${up}\n`);
    let id: string | undefined;
    while (id === undefined && run.child.exitCode === null) {
      id = /review (r-[0-9a-f]+)/.exec(run.stderr())?.[1];
      if (id === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(id, run.stderr());
    assert.equal(existsSync(join(up, 'held', 'x.txt')), true, 'nothing removed before the approval');
    await approve(id);
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(join(up, 'held', 'x.txt')), false);
  });

  it('defers an operation: refused at once naming the review, done on a retry after approval', async () => {
    mkdirSync(join(up, 'deferred'));
    const first = await batch(`mkdir ${up}/deferred/new`);
    assert.notEqual(first.code, 0);
    const id = /(r-[0-9a-f]+)/.exec(first.stderr)?.[1];
    assert.ok(id, first.stderr);
    assert.equal(existsSync(join(up, 'deferred', 'new')), false);
    await approve(id);
    const retry = await batch(`mkdir ${up}/deferred/new`);
    assert.equal(retry.code, 0, retry.stderr);
    assert.equal(existsSync(join(up, 'deferred', 'new')), true);
  });

  it('a raw SFTP client: unknown extensions, NUL, reused ids and oversize packets', async () => {
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => client.once('ready', resolve).once('error', reject).connect({ host: '127.0.0.1', port, username: 'build-box', password: token }));
    try {
      const stream = await new Promise<ClientChannel>((resolve, reject) => client.subsys('sftp', (err, s) => (err ? reject(err) : resolve(s))));
      const replies: Buffer[] = [];
      const waiters: Array<() => void> = [];
      const framer = new SftpFramer();
      stream.on('data', (d: Buffer) => framer.push(d, { headSize: (_t, size) => size, head: (b) => (replies.push(Buffer.from(b)), waiters.shift()?.(), false), tail: () => undefined }));
      const next = async (): Promise<Buffer> => {
        while (replies.length === 0) await new Promise<void>((r) => waiters.push(r));
        return replies.shift() as Buffer;
      };
      const packet = (type: number, ...fields: Array<number | string | Buffer>): Buffer => {
        const parts = fields.map((f) => {
          if (typeof f === 'number') return Buffer.from([f >>> 24, (f >>> 16) & 0xff, (f >>> 8) & 0xff, f & 0xff]);
          const b = typeof f === 'string' ? Buffer.from(f) : f;
          return Buffer.concat([Buffer.from([0, 0, b.length >>> 8, b.length & 0xff]), b]);
        });
        const body = Buffer.concat([Buffer.from([type]), ...parts]);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(body.length);
        return Buffer.concat([len, body]);
      };
      const send = (type: number, ...fields: Array<number | string | Buffer>): boolean => stream.write(packet(type, ...fields));
      const status = (p: Buffer): { id: number; code: number; message: string } => ({ id: p.readUInt32BE(5), code: p.readUInt32BE(9), message: p.subarray(17, 17 + p.readUInt32BE(13)).toString() });
      send(FXP.INIT, 3);
      assert.equal((await next())[4], FXP.VERSION);
      send(FXP.EXTENDED, 1, 'check-file-name@example.com', '/etc/passwd');
      assert.deepEqual(status(await next()), { id: 1, code: FX.OP_UNSUPPORTED, message: 'portcullis: the SFTP extension check-file-name@example.com is not supported' });
      send(FXP.STAT, 2, `${other}/readable.txt\0/etc/shadow`);
      assert.deepEqual(status(await next()), { id: 2, code: FX.PERMISSION_DENIED, message: 'portcullis: denied: the path contains NUL' });
      // OpenSSH's order for SYMLINK: target, then link. A link in up/ to secret/ is refused.
      send(FXP.SYMLINK, 3, `${secret}/key.txt`, `${up}/raw-link`);
      assert.equal(status(await next()).code, FX.PERMISSION_DENIED);
      assert.equal(existsSync(join(up, 'raw-link')), false);
      // An OPEN whose id is still in flight (both in one write): the second is refused, the first answered.
      stream.write(Buffer.concat([packet(FXP.OPEN, 4, `${other}/readable.txt`, 1, 0), packet(FXP.OPEN, 4, `${up}/big.bin`, 2, 0)]));
      const [a, b] = [await next(), await next()];
      const refusedReuse = a[4] === FXP.STATUS ? a : b;
      assert.deepEqual(status(refusedReuse), { id: 4, code: FX.FAILURE, message: 'portcullis: request id already in use' });
      assert.equal((refusedReuse === a ? b : a)[4], FXP.HANDLE);
      // A packet over the cap ends the session.
      const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
      const big = Buffer.alloc(8);
      big.writeUInt32BE(300 * 1024);
      big[4] = FXP.WRITE;
      stream.write(big);
      await closed;
    } finally {
      client.end();
    }
  });

  it('refuses the subsystem to an identity no rule lets touch a file', async () => {
    const saved = token;
    token = await t.token('stranger', ['visitors']);
    try {
      const r = await batch('pwd');
      assert.notEqual(r.code, 0);
    } finally {
      token = saved;
    }
  });

  it('records each decided operation and a summary per closed file', async () => {
    await t.gw.recorder.flush();
    const rows = await storeDb(t.gw.services.store).selectFrom('session_events').select(['kind', 'data']).execute();
    const events = rows.map((r) => ({ kind: r.kind, ...(JSON.parse(r.data) as { op?: string; path?: string; verdict?: string; rule?: string; bytes_written?: number; command?: string }) }));
    assert.ok(events.some((e) => e.kind === 'sftp' && e.op === 'write' && e.path === `${up}/big.bin` && e.verdict === 'allow' && e.rule === 'files#3 (uploads)'));
    assert.ok(events.some((e) => e.kind === 'denied' && e.op === 'write' && e.path === `${other}/big.bin` && e.verdict === 'deny'));
    assert.ok(events.some((e) => e.kind === 'denied' && (e.op === 'read' || e.op === 'stat') && e.path === `${secret}/key.txt` && e.rule === 'files#0 (no-secrets)'));
    assert.ok(events.some((e) => e.kind === 'denied' && e.op === 'write' && e.path === join(dirname(sshd.dir), 'escaped.txt')));
    assert.ok(events.some((e) => e.kind === 'sftp.close' && e.path === `${up}/big.bin` && e.bytes_written === 300_017));
    // scp -O: an exec line decided as an sftp write.
    assert.ok(events.some((e) => e.kind === 'denied' && e.command === `scp -t ${other}/scp-O.txt`));
  });
});
