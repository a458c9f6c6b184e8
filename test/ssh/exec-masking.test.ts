// Masking of exec output with the real OpenSSH client through the gateway to a real sshd: a
// policy with content detectors masks secrets on stdout and stderr (also with a PTY, CRLF
// kept), other lines and the exit status pass as they are; without detectors (no masks, or
// only column and json rules) the output is byte for byte what sshd sends directly; 20 MB of
// binary-ish output goes through the masked path whole; the recording counts detector hits.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WITHHELD_LINE } from '../../src/masking/text-stream.ts';
import { MAX_OUTPUT_LINE } from '../../src/protocols/ssh/exec.ts';
import { startSshTestGateway, type TestGateway } from '../support/gateway.ts';
import { SECRET_MARKER, testSecret } from '../support/secrets.ts';
import { QUIET_OPTIONS, startClient, withToken } from '../support/ssh-client.ts';
import { startSshd, type TestSshd } from '../support/sshd.ts';
import { storeDb } from '../support/store-db.ts';

interface Run {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

// Secrets built at run time (no key-shaped literal in the source); all but the AWS key id
// (uppercase and digits only) carry the marker, so a leak fails the runner's secret scan.
const AWS_KEY_ID = `AKIA${'Q7'.repeat(8)}`;
const GITHUB_TOKEN = `ghp_${SECRET_MARKER}${'0'.repeat(36 - SECRET_MARKER.length)}`;
const PASSWORD = testSecret('ssh-exec-password');
const DB_PASSWORD = testSecret('ssh-exec-db');
const KEY_MATERIAL = [`b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ${SECRET_MARKER}AAAAAAAABAAAAMwAAAAtzc2gtZW`, `QyNTUxOQAAACDxq8r0${SECRET_MARKER}vYkGQAAAAAtzc2gtZWQyNTUxOQ`];
const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';

const SECRETS_FILE = [
  '# deploy settings',
  `AWS_ACCESS_KEY_ID=${AWS_KEY_ID}`,
  `GITHUB_TOKEN=${GITHUB_TOKEN}`,
  BEGIN,
  ...KEY_MATERIAL,
  END,
  `password=${PASSWORD}`,
  `DATABASE_URL=postgres://app:${DB_PASSWORD}@db.internal:5432/app`,
  'HOME=/root',
  '',
].join('\n');

const MASKED_LINES = ['# deploy settings', 'AWS_ACCESS_KEY_ID=AKIA****', 'GITHUB_TOKEN=ghp_****', BEGIN, '****', END, '****', 'DATABASE_URL=postgres://app:****@db.internal:5432/app', 'HOME=/root', ''];
const MASKED = MASKED_LINES.join('\n');
/** Lines with a finding: the AWS key id, the token, the key block, the password, the URL. */
const HITS = 5;

/**
 * About 20 MB of binary-ish lines: any byte but letters, `\n` and `\r` (no detector can fire),
 * lines of 0-2000 bytes ending in `\n` or `\r\n`, and a few longer than the gateway's cap.
 * Returns the bytes and what the masked path must make of them.
 */
function binaryish(size: number): { input: Buffer; expected: Buffer } {
  const allowed: number[] = [];
  for (let b = 0; b < 256; b++) if (b !== 0x0a && b !== 0x0d && !((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a))) allowed.push(b);
  let x = 12345;
  const rand = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  const input: Buffer[] = [];
  const expected: Buffer[] = [];
  const withheld = Buffer.from(WITHHELD_LINE);
  let total = 0;
  for (let i = 0; total < size; i++) {
    const long = i % 5000 === 2500;
    const line = Buffer.allocUnsafe(long ? MAX_OUTPUT_LINE + 1 + rand(100_000) : rand(2001));
    for (let k = 0; k < line.length; k++) line[k] = allowed[rand(allowed.length)] as number;
    const eol = Buffer.from(i % 7 === 0 ? '\r\n' : '\n');
    input.push(line, eol);
    expected.push(long ? withheld : line, eol);
    total += line.length + eol.length;
  }
  return { input: Buffer.concat(input), expected: Buffer.concat(expected) };
}

describe('SSH exec output masking with OpenSSH', () => {
  let sshd: TestSshd;
  let t: TestGateway;
  let port: number;
  let token: string;
  let blob: { input: Buffer; expected: Buffer };

  /**
   * The real ssh client; the token is answered through SSH_ASKPASS. `tty`: -tt (a PTY, CRLF
   * output). `direct`: to sshd itself with its client key, not through the gateway.
   */
  const ssh = async (user: string, command: string, opts: { tty?: boolean; direct?: boolean; input?: string } = {}): Promise<Run> => {
    const tty = opts.tty === true ? '-tt' : '-T';
    // Not a timing assertion: a hung relay fails the test instead of the whole run.
    const run = { input: opts.input ?? '', timeoutMs: 120_000 };
    const client =
      opts.direct === true
        ? startClient('ssh', ['-p', String(sshd.port), '-i', sshd.clientKeyFile, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', ...QUIET_OPTIONS, tty, `${sshd.user}@127.0.0.1`, command], run)
        : withToken('ssh', port, token, [tty, `${user}@127.0.0.1`, command], run);
    const r = await client.done;
    return { code: r.code, stdout: r.stdoutBytes, stderr: r.stderrBytes };
  };

  /** The text of a run, with the marker hidden so that a failed assertion cannot print a secret. */
  const shown = (b: Buffer): string => b.toString('latin1').replaceAll(SECRET_MARKER, '<marker>');

  const assertNoSecret = (b: Buffer, what: string): void => {
    const text = b.toString('latin1');
    for (const secret of [AWS_KEY_ID, GITHUB_TOKEN, PASSWORD, DB_PASSWORD, SECRET_MARKER, ...KEY_MATERIAL]) assert.ok(!text.includes(secret), `${what} holds a secret: ${shown(b)}`);
  };

  before(async () => {
    sshd = await startSshd();
    writeFileSync(join(sshd.dir, 'deploy.secret'), SECRETS_FILE);
    blob = binaryish(20 * 1024 * 1024);
    writeFileSync(join(sshd.dir, 'blob.bin'), blob.input);
    const upstream = `{ host: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, private_key: "\${file:${sshd.clientKeyFile}}" }`;
    ({ t, port } = await startSshTestGateway(
      `
connections:
  - { name: masked-box, type: ssh, upstream: ${upstream} }
  - { name: plain-box, type: ssh, upstream: ${upstream} }
  - { name: rows-box, type: ssh, upstream: ${upstream} }
policies:
  - name: masked
    subjects: { groups: [agents] }
    connections: [masked-box]
    rules:
      - { match: { ssh: { op: [exec], program: [cat] } }, then: allow }
      - { then: deny }
    masks:
      - { detector: secrets, with: partial }
      - { detector: custom, name: password_assignment, pattern: "password=[^ ]+", with: redact }
  - name: plain
    subjects: { groups: [agents] }
    connections: [plain-box]
    rules:
      - { match: { ssh: { op: [exec], program: [cat] } }, then: allow }
      - { then: deny }
  - name: rows-only
    subjects: { groups: [agents] }
    connections: [rows-box]
    rules:
      - { match: { ssh: { op: [exec], program: [cat] } }, then: allow }
      - { then: deny }
    masks:
      - { column: "*.*.password", with: redact }
      - { json: "$..token", with: redact }
`,
    ));
    token = await t.token('agent-bot', ['agents']);
  });

  after(async () => {
    await t?.stop();
    await sshd?.stop();
  });

  it('masks secrets on stdout; other lines and the exit status pass', async () => {
    const r = await ssh('masked-box', `cat ${sshd.dir}/deploy.secret`);
    assert.equal(r.code, 0, shown(r.stderr));
    assertNoSecret(r.stdout, 'stdout');
    assert.equal(shown(r.stdout), MASKED);
  });

  it('masks secrets on stderr, and keeps a failing exit status', async () => {
    const r = await ssh('masked-box', `cat ${sshd.dir}/deploy.secret >&2`);
    assert.equal(r.code, 0);
    assertNoSecret(r.stderr, 'stderr');
    assert.equal(shown(r.stderr), MASKED);
    assert.equal(r.stdout.length, 0);

    const failing = await ssh('masked-box', `cat ${sshd.dir}/deploy.secret /no/such/file`);
    assert.equal(failing.code, 1);
    assertNoSecret(failing.stdout, 'stdout');
    assert.equal(shown(failing.stdout), MASKED);
    assert.match(failing.stderr.toString(), /No such file/);
  });

  it('with a PTY, masks the CRLF output and keeps its line endings', async () => {
    const r = await ssh('masked-box', `cat ${sshd.dir}/deploy.secret`, { tty: true });
    assert.equal(r.code, 0, shown(r.stderr));
    assertNoSecret(r.stdout, 'stdout');
    assert.equal(shown(r.stdout), MASKED_LINES.join('\r\n'));
  });

  it('without detectors the output is byte for byte what sshd sends directly', async () => {
    const direct = await ssh(sshd.user, `cat ${sshd.dir}/blob.bin; cat ${sshd.dir}/deploy.secret`, { direct: true });
    assert.equal(direct.code, 0, direct.stderr.toString());
    assert.ok(direct.stdout.equals(Buffer.concat([blob.input, Buffer.from(SECRETS_FILE)])), 'direct ssh relays the files');
    for (const user of ['plain-box', 'rows-box']) {
      const r = await ssh(user, `cat ${sshd.dir}/blob.bin ${sshd.dir}/deploy.secret`);
      assert.equal(r.code, 0, r.stderr.toString());
      assert.equal(r.stdout.length, direct.stdout.length, user);
      assert.ok(r.stdout.equals(direct.stdout), `${user}: byte for byte`);
    }
  });

  it('relays 20 MB of binary-ish output through the masked path whole, over-long lines withheld', async () => {
    const r = await ssh('masked-box', `cat ${sshd.dir}/blob.bin`);
    assert.equal(r.code, 0, r.stderr.toString());
    assert.equal(r.stdout.length, blob.expected.length);
    assert.ok(r.stdout.equals(blob.expected), 'every line as it was, or the withheld marker');
  });

  it('relays stdin on the masked path, and masks what comes back', async () => {
    const r = await ssh('masked-box', 'cat', { input: `token ${GITHUB_TOKEN}\nbye` });
    assert.equal(r.code, 0, shown(r.stderr));
    assert.equal(shown(r.stdout), 'token ghp_****\nbye');
  });

  it('records how many lines the detectors masked, never the values', async () => {
    await t.gw.recorder.flush();
    const rows = await storeDb(t.gw.services.store).selectFrom('session_events').select(['kind', 'data']).where('kind', '=', 'exec').execute();
    assert.ok(!rows.some((r) => r.data.includes(SECRET_MARKER) || r.data.includes(AWS_KEY_ID)), 'no secret in the recording');
    const events = rows.map((r) => JSON.parse(r.data) as { command: string; exit: number; masked?: { detector_hits: number } });
    const cat = events.find((e) => e.command === `cat ${sshd.dir}/deploy.secret`);
    assert.deepEqual(cat?.masked, { detector_hits: HITS });
    const both = events.find((e) => e.command === `cat ${sshd.dir}/deploy.secret /no/such/file`);
    assert.equal(both?.exit, 1);
    assert.deepEqual(both?.masked, { detector_hits: HITS });
    const big = events.find((e) => e.command === `cat ${sshd.dir}/blob.bin`);
    assert.deepEqual(big?.masked, { detector_hits: 0 });
    const plain = events.find((e) => e.command === `cat ${sshd.dir}/blob.bin ${sshd.dir}/deploy.secret`);
    assert.ok(plain !== undefined && plain.masked === undefined, 'no masked summary without detectors');
  });
});
