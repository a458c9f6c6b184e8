import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { loadOrCreateSigningKey, loadPublicKey } from '../../src/audit/signing-key.ts';
import { verifyAudit } from '../../src/audit/verify.ts';
import type { AuditEvent } from '../../src/core/audit-event.ts';
import { GatewayError } from '../../src/core/errors.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { openStore } from '../../src/store/store.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { WriterThread } from '../../src/store/sqlite/writer-thread.ts';
import { sqliteStore } from '../support/store-db.ts';
import { testSecret } from '../support/secrets.ts';
import { tempDir } from '../support/tmp.ts';
import { join } from 'node:path';
import { appendMany, attacker, openFixture, rawRows, type Fixture } from './helpers.ts';

const run = promisify(execFile);

await test('AuditLog', async (t) => {
  const fixtures: Fixture[] = [];
  async function fixture(checkpointEvery = 100): Promise<Fixture> {
    const f = await openFixture(checkpointEvery);
    fixtures.push(f);
    return f;
  }
  const publicKeyOf = (f: Fixture) => loadPublicKey(`${f.keyFile}.pub`).publicKey;
  t.after(async () => {
    for (const f of fixtures) await f.store.close();
  });

  await t.test('chains records from the genesis hash with contiguous seq', async () => {
    const f = await fixture();
    await appendMany(f.log, 3);
    const records = await f.log.list();
    assert.deepEqual(records.map((r) => r.seq), [1, 2, 3]);
    assert.equal(records[0]?.prevHash, '0'.repeat(64));
    assert.equal(records[1]?.prevHash, records[0]?.hash);
    assert.equal(records[2]?.prevHash, records[1]?.hash);
    assert.deepEqual(records[1]?.data, { connection: 'orders-db', decision: 'allow', n: 2 });
    assert.equal(records[1]?.type, 'policy.decision');
    assert.equal(records[1]?.actor, 'agent-2');
  });

  await t.test('lists with after, limit and type', async () => {
    const f = await fixture();
    await appendMany(f.log, 10);
    await f.log.append({ type: 'token.revoked', actor: 'cli:root', data: { jti: 'tok-1' } });
    assert.deepEqual((await f.log.list({ after: 4, limit: 3 })).map((r) => r.seq), [5, 6, 7]);
    assert.deepEqual((await f.log.list({ type: 'token.revoked' })).map((r) => r.seq), [11]);
    assert.equal((await f.log.list({ limit: 0 })).length, 1);
  });

  await t.test('writes a checkpoint every N records and on checkpoint(), once', async () => {
    const f = await fixture(10);
    await appendMany(f.log, 25);
    await f.log.checkpoint();
    await f.log.checkpoint();
    const db = attacker(f.dbFile);
    const seqs = (db.prepare('SELECT seq FROM audit_checkpoints ORDER BY seq').all() as { seq: number }[]).map((r) => r.seq);
    db.close();
    assert.deepEqual(seqs, [10, 20, 25]);
  });

  await t.test('serialises concurrent appends into one contiguous chain, in call order', async () => {
    const f = await fixture(50);
    await Promise.all(Array.from({ length: 200 }, (_, i) => f.log.append({ type: 'session.started', actor: 'agent', data: { i } })));
    const records = await f.log.list({ limit: 1000 });
    assert.deepEqual(records.map((r) => r.seq), Array.from({ length: 200 }, (_, i) => i + 1));
    assert.deepEqual(records.map((r) => r.data.i), Array.from({ length: 200 }, (_, i) => i));
    const result = await verifyAudit(f.store, publicKeyOf(f));
    assert.deepEqual({ ok: result.ok, checkpoints: result.ok ? result.checkpoints : -1 }, { ok: true, checkpoints: 4 });
  });

  await t.test('continues the chain after a re-open', async () => {
    const f = await fixture(100);
    await appendMany(f.log, 30);
    await f.log.close();
    const store = await openStore(`sqlite:${f.dbFile}`);
    try {
      const reopened = await AuditLog.open({ store, signingKeyFile: f.keyFile, checkpointEvery: 100, checkpointEveryMs: 0, logger: createLogger('silent') });
      assert.equal(reopened.keyId, f.log.keyId);
      await appendMany(reopened, 30, 31);
      await reopened.close();
      const [r30, r31] = await reopened.list({ after: 29, limit: 2 });
      assert.equal(r31?.seq, 31);
      assert.equal(r31?.prevHash, r30?.hash);
      const result = await verifyAudit(store, publicKeyOf(f));
      assert.equal(result.ok, true);
      assert.deepEqual(result.ok && { records: result.records, checkpoints: result.checkpoints }, { records: 60, checkpoints: 2 });
    } finally {
      await store.close();
    }
  });

  await t.test('keeps two processes on one store from forking the chain', async () => {
    const f = await fixture(10);
    await f.log.close(); // the key file exists before the workers start
    const worker = fileURLToPath(new URL('./fixtures/append-worker.ts', import.meta.url));
    const start = (actor: string, peer: string) => run(process.execPath, ['--import', 'tsx', worker, f.dbFile, f.keyFile, '60', actor, peer]);
    await Promise.all([start('worker-a', 'worker-b'), start('worker-b', 'worker-a')]);
    const records = await f.log.list({ limit: 1000 });
    assert.deepEqual(records.map((r) => r.seq), Array.from({ length: 120 }, (_, i) => i + 1));
    assert.equal(records.filter((r) => r.actor === 'worker-a').length, 60);
    assert.equal((await verifyAudit(f.store, publicKeyOf(f))).ok, true);
  });

  await t.test('rejects secret-named data keys anywhere in the event, and records nothing', async () => {
    const f = await fixture();
    const secret = testSecret('audit-field');
    const cases: [Record<string, unknown>, string][] = [
      [{ password: secret }, 'password'],
      [{ upstream: { headers: { Authorization: `Bearer ${secret}` } } }, 'upstream.headers.Authorization'],
      [{ items: [{ ok: 1 }, { Private_Key: secret }] }, 'items[1].Private_Key'],
      [{ credential: { 'client-secret': secret } }, 'credential.client-secret'],
      [{ TOKEN: secret }, 'TOKEN'],
      [{ privateKey: secret }, 'privateKey'],
    ];
    for (const [data, path] of cases) {
      await assert.rejects(f.log.append({ type: 'credential.set', actor: 'cli:root', data }), (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, 'PCS_AUDIT_SECRET_FIELD');
        assert.equal(err.params.path, path);
        assert.ok(!err.message.includes(secret), 'the message must not carry the value');
        return true;
      });
    }
    // Names that merely contain a secret word are fine: ids and fingerprints are what we audit.
    await f.log.append({ type: 'token.issued', actor: 'cli:root', data: { token_id: 'jti-1', secret_ref: 'vault:db', kind: 'password' } });
    assert.equal((await f.log.list()).length, 1);
  });

  await t.test('rejects data JSON cannot carry, without breaking the queue', async () => {
    const f = await fixture();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad: Record<string, unknown>[] = [{ n: Number.NaN }, { n: 10n }, cyclic, { grants: new Map([['a', 1]]) }];
    for (const data of bad) {
      await assert.rejects(f.log.append({ type: 'config.changed', actor: 'system', data }), { code: 'PCS_AUDIT_EVENT_INVALID' });
    }
    await assert.rejects(f.log.append({ type: 'config.changed', actor: 'system', data: [] } as unknown as AuditEvent), { code: 'PCS_AUDIT_EVENT_INVALID' });
    await f.log.append({ type: 'config.changed', actor: 'system', data: { at: new Date(0), skipped: undefined } });
    const [record] = await f.log.list();
    assert.deepEqual(record?.data, { at: '1970-01-01T00:00:00.000Z' });
  });

  await t.test('rejects a failed write on its own promise, and later appends still succeed', async () => {
    const f = await fixture();
    await appendMany(f.log, 2);
    // Block the next seq with a row the log does not expect, as a broken second writer might.
    const db = attacker(f.dbFile);
    db.exec('CREATE TRIGGER no_insert BEFORE INSERT ON audit WHEN NEW.seq = 3 BEGIN SELECT RAISE(ABORT, \'disk says no\'); END');
    await assert.rejects(f.log.append({ type: 'auth.failed', actor: 'x', data: {} }), { code: 'PCS_AUDIT_WRITE_FAILED' });
    db.exec('DROP TRIGGER no_insert');
    db.close();
    await f.log.append({ type: 'auth.failed', actor: 'x', data: {} });
    assert.deepEqual((await f.log.list()).map((r) => r.seq), [1, 2, 3]);
  });

  await t.test('close waits for pending appends, checkpoints, and refuses later appends', async () => {
    const f = await fixture(1000);
    const pending = Array.from({ length: 20 }, (_, i) => f.log.append({ type: 'session.ended', actor: 'agent', data: { i } }));
    await f.log.close();
    await Promise.all(pending);
    assert.equal((await f.log.list({ limit: 1000 })).length, 20);
    const db = attacker(f.dbFile);
    assert.deepEqual(db.prepare('SELECT seq FROM audit_checkpoints').all(), [{ seq: 20 }]);
    db.close();
    await assert.rejects(f.log.append({ type: 'gateway.stopped', actor: 'system', data: {} }), { code: 'PCS_AUDIT_WRITE_FAILED' });
    await f.log.close(); // idempotent
  });

  await t.test('refuses a checkpoint interval that is not a positive integer', async () => {
    const f = await fixture();
    const key = loadOrCreateSigningKey(f.keyFile);
    assert.equal(key.created, false);
    for (const checkpointEvery of [0, -1, 1.5]) {
      await assert.rejects(AuditLog.open({ store: f.store, signingKeyFile: f.keyFile, checkpointEvery, logger: createLogger('silent') }), { code: 'PCS_CONFIG_INVALID' });
    }
  });

  await t.test('stores data as canonical JSON text', async () => {
    const f = await fixture();
    await f.log.append({ type: 'review.created', actor: 'agent', data: { z: 1, a: { y: [3, 1], b: 'é' } } });
    const db = attacker(f.dbFile);
    const [row] = rawRows(db);
    db.close();
    assert.equal(row?.data, '{"a":{"b":"é","y":[3,1]},"z":1}');
  });

  await t.test('writes in the store\'s writer thread, and a process exits on its own with or without close', async () => {
    const f = await fixture(10);
    assert.ok(sqliteStore(f.store).writer, 'a file store has a writer thread');
    await f.log.close(); // the key file exists before the children start
    const child = fileURLToPath(new URL('./fixtures/exit-check.ts', import.meta.url));
    for (const mode of ['close', 'abandon']) {
      // A dangling handle would keep the child alive until the timeout kills it (and fails the test).
      await run(process.execPath, ['--import', 'tsx', child, f.dbFile, f.keyFile, mode], { timeout: 30_000 });
    }
    const records = await f.log.list({ limit: 1000 });
    assert.deepEqual(records.map((r) => r.seq), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.deepEqual(records.map((r) => r.actor), [...Array<string>(25).fill('close'), ...Array<string>(25).fill('abandon')]);
    const result = await verifyAudit(f.store, publicKeyOf(f));
    assert.deepEqual(result.ok && { records: result.records, checkpoints: result.checkpoints }, { records: 50, checkpoints: 6 });
  });

  await t.test('a writer thread that dies fails the appends in flight, never the chain; a new one takes over', async () => {
    const f = await fixture(10);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await appendMany(f.log, 5);
      const writer = sqliteStore(f.store).writer;
      assert.ok(writer);
      const inFlight = Array.from({ length: 30 }, (_, i) => f.log.append({ type: 'session.started', actor: 'agent', data: { i } }));
      const checkpoint = f.log.checkpoint(); // posts the window now
      await writer.kill();
      const settled = await Promise.allSettled([...inFlight, checkpoint]);
      for (const s of settled) if (s.status === 'rejected') assert.equal((s.reason as GatewayError).code, 'PCS_AUDIT_WRITE_FAILED');
      // Right after a crash a new thread is not started yet: refused, not hung.
      await assert.rejects(f.log.append({ type: 'session.started', actor: 'agent', data: { late: true } }), { code: 'PCS_AUDIT_WRITE_FAILED' });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await f.log.append({ type: 'session.ended', actor: 'agent', data: {} });
      const records = await f.log.list({ limit: 1000 });
      // A batch may have committed without its answer arriving: never fewer records than acknowledged.
      const acknowledged = settled.slice(0, 30).filter((s) => s.status === 'fulfilled').length;
      assert.ok(records.length >= 5 + acknowledged + 1);
      assert.deepEqual(records.map((r) => r.seq), Array.from({ length: records.length }, (_, i) => i + 1));
      assert.equal(records.at(-1)?.type, 'session.ended');
      await f.log.close();
      assert.equal((await verifyAudit(f.store, publicKeyOf(f))).ok, true);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  await t.test('a writer thread that cannot start: appends and close reject with PCS_AUDIT_WRITE_FAILED, and nothing hangs', async () => {
    const f = await fixture();
    await f.log.close();
    // A "file" the thread cannot open as a database: a directory.
    const own = sqliteStore(f.store);
    const broken = new SqliteStore({ url: own.url, sqlite: own.sqlite, db: own.db, file: own.file, writer: new WriterThread(tempDir('pcs-audit-notafile-')) });
    const log = await AuditLog.open({ store: broken, signingKeyFile: f.keyFile, checkpointEvery: 100, checkpointEveryMs: 0, logger: createLogger('silent') });
    await assert.rejects(log.append({ type: 'auth.failed', actor: 'x', data: {} }), { code: 'PCS_AUDIT_WRITE_FAILED' });
    await assert.rejects(log.append({ type: 'auth.failed', actor: 'x', data: {} }), { code: 'PCS_AUDIT_WRITE_FAILED' });
    await assert.rejects(log.close(), { code: 'PCS_AUDIT_WRITE_FAILED' });
    await broken.writer?.close();
    assert.deepEqual(await log.list(), []);
  });

  await t.test('an in-memory store (no file to share) is written in this thread, the same way', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      assert.equal(sqliteStore(store).writer, undefined);
      const keyFile = join(tempDir('pcs-audit-mem-'), 'k.pem');
      const log = await AuditLog.open({ store, signingKeyFile: keyFile, checkpointEvery: 10, checkpointEveryMs: 0, logger: createLogger('silent') });
      await Promise.all(Array.from({ length: 25 }, (_, i) => log.append({ type: 'session.started', actor: 'agent', data: { i } })));
      await assert.rejects(log.append({ type: 'config.changed', actor: 'system', data: { n: Number.POSITIVE_INFINITY } }), { code: 'PCS_AUDIT_EVENT_INVALID' });
      await log.close();
      assert.deepEqual((await log.list({ limit: 100 })).map((r) => r.data.i), Array.from({ length: 25 }, (_, i) => i));
      const result = await verifyAudit(store, loadPublicKey(`${keyFile}.pub`).publicKey);
      assert.deepEqual(result.ok && { records: result.records, checkpoints: result.checkpoints }, { records: 25, checkpoints: 3 });
    } finally {
      await store.close();
    }
  });
});
