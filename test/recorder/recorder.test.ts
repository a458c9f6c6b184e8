import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Recorder, type SessionInfo } from '../../src/recorder/recorder.ts';
import { getSession } from '../../src/recorder/reader.ts';
import type { Store } from '../../src/store/store.ts';
import { sqliteStore } from '../support/store-db.ts';
import { ERROR, WARN, WRITE_MODES, captureLogger, flakyStore, tempStore as tempStoreIn, until } from './helpers.ts';

const INFO: SessionInfo = { connection: 'app-db', protocol: 'postgres', subject: 'ci-agent', clientAddr: '127.0.0.1:50000' };

/** Every rejection nobody handled, across the whole file: there must be none. */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

async function events(store: Store, id: string) {
  const got = await getSession(store, id, { limit: 10_000 });
  assert.ok(got, `session ${id} is stored`);
  return got;
}

for (const mode of WRITE_MODES) describe(`session recorder (${mode === 'in thread' ? 'in-thread' : 'writer-thread'} writes)`, () => {
  const tempStore = () => tempStoreIn(mode);

  before(() => process.on('unhandledRejection', onUnhandled));
  after(() => {
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
  });

  it('queues on the hot path and writes 1000 events in a few transactions', async () => {
    const { store, state } = flakyStore(await tempStore());
    const { logger } = captureLogger();
    // A long interval: only the full-batch trigger can write these.
    const recorder = Recorder.open({ store, logger, flushIntervalMs: 60_000, maxBatch: 1000 });
    await recorder.flush(); // let crash recovery run first
    const before = state.transactions;
    const rec = recorder.start(INFO);
    assert.match(rec.id, /^s_[A-Za-z0-9_-]{16}$/);
    for (let i = 0; i < 1000; i++) rec.event('statement', { text: `SELECT ${i}`, verdict: 'allow' });
    // Nothing was written inside event(): the batch is only scheduled.
    assert.equal(recorder.stats().queued, 1001);
    assert.equal(recorder.stats().written, 0);
    await until(() => recorder.stats().written === 1000, 'the full batch to be written');
    assert.ok(state.transactions - before <= 2, `1000 events took ${state.transactions - before} transactions`);
    assert.ok(recorder.stats().batches <= 2);
    const got = await events(store, rec.id);
    assert.equal(got.events.length, 1000);
    assert.deepEqual(got.events[999], { seq: 1000, at: got.events[999]?.at, kind: 'statement', data: { text: 'SELECT 999', verdict: 'allow' } });
    await recorder.close();
    await store.close();
  });

  it('numbers events per session, contiguous, with sessions interleaved across many batches', async () => {
    const store = await tempStore();
    const recorder = Recorder.open({ store, logger: captureLogger().logger, flushIntervalMs: 5, maxBatch: 7 });
    const recs = [recorder.start(INFO), recorder.start({ ...INFO, subject: 'bob' }), recorder.start({ ...INFO, connection: 'other' })];
    const sent = new Map<string, number>(recs.map((r) => [r.id, 0]));
    for (let i = 0; i < 900; i++) {
      const r = recs[(i * 7919) % 3];
      assert.ok(r);
      const n = (sent.get(r.id) ?? 0) + 1;
      sent.set(r.id, n);
      r.event('statement', { n });
      if (i % 97 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    for (const r of recs) r.end('closed');
    await recorder.flush();
    for (const r of recs) {
      const got = await events(store, r.id);
      assert.equal(got.events.length, sent.get(r.id));
      got.events.forEach((e, i) => {
        assert.equal(e.seq, i + 1);
        assert.equal(e.data.n, i + 1, 'events keep their order');
      });
      assert.equal(got.session.statements, sent.get(r.id), 'statements counted by the recorder');
    }
    await recorder.close();
    await store.close();
  });

  it('stores the end status and summary; later calls are ignored with one warning', async () => {
    const store = await tempStore();
    const { logger, lines } = captureLogger();
    const recorder = Recorder.open({ store, logger });
    const rec = recorder.start(INFO);
    rec.event('statement', { text: 'SELECT 1' });
    rec.end('error', { bytesIn: 120, bytes_out: 4096, statements: 3, error: 'upstream closed' });
    rec.end('closed');
    rec.event('statement', { text: 'SELECT 2' });
    await recorder.flush();
    const { session, events: evs } = await events(store, rec.id);
    assert.equal(session.status, 'error');
    assert.ok(session.endedAt !== null && session.endedAt >= session.startedAt);
    assert.deepEqual([session.bytesIn, session.bytesOut, session.statements, session.dropped], [120, 4096, 3, 0]);
    assert.deepEqual(session.summary, { bytesIn: 120, bytes_out: 4096, statements: 3, error: 'upstream closed' });
    assert.deepEqual(session, { ...session, connection: 'app-db', protocol: 'postgres', subject: 'ci-agent', clientAddr: '127.0.0.1:50000' });
    assert.equal(evs.length, 1);
    assert.equal(lines.filter((l) => l.level === WARN && l.session === rec.id).length, 1, 'one warning per recording');
    await recorder.close();
    await store.close();
  });

  it('marks sessions left open by a crashed process as terminated when a recorder opens', async () => {
    const store = await tempStore();
    const crashed = Recorder.open({ store, logger: captureLogger().logger });
    const a = crashed.start(INFO);
    const b = crashed.start(INFO);
    a.event('statement', { text: 'SELECT 1' });
    const done = crashed.start(INFO);
    done.end('closed');
    await crashed.flush();
    // No close(): the process "died". A fresh recorder on the same store:
    const { logger, lines } = captureLogger();
    const fresh = Recorder.open({ store, logger });
    await fresh.flush();
    for (const id of [a.id, b.id]) {
      const { session } = await events(store, id);
      assert.equal(session.status, 'terminated');
      assert.ok(session.endedAt !== null);
      assert.match(String(session.summary?.reason), /stopped without ending/);
    }
    assert.equal((await events(store, done.id)).session.status, 'closed');
    assert.ok(lines.some((l) => l.level === WARN && l.sessions === 2));
    await fresh.close();
    await store.close();
  });

  it('on overflow drops new events, keeps start and end, and records what it dropped', async () => {
    const { store, state } = flakyStore(await tempStore());
    const recorder = Recorder.open({ store, logger: captureLogger().logger, flushIntervalMs: 60_000, maxBatch: 1000, maxQueued: 10 });
    await recorder.flush();
    state.failing = true; // the store is stuck: nothing leaves the queue
    const rec = recorder.start(INFO);
    for (let i = 1; i <= 50; i++) rec.event('statement', { i });
    const late = recorder.start({ ...INFO, subject: 'late' }); // a start is never dropped
    late.end('closed');
    assert.equal(recorder.stats().dropped, 41);
    await recorder.flush(); // fails: still no room
    rec.event('statement', { i: 51 }); // still full: dropped too
    state.failing = false;
    await recorder.flush(); // room again: the marker is queued and written
    rec.event('statement', { i: 52 });
    rec.end('closed');
    await recorder.flush();
    const { session, events: evs } = await events(store, rec.id);
    assert.deepEqual(
      evs.map((e) => [e.seq, e.kind, e.kind === 'dropped' ? e.data.count : e.data.i]),
      [...Array.from({ length: 9 }, (_, k) => [k + 1, 'statement', k + 1]), [10, 'dropped', 42], [11, 'statement', 52]],
    );
    assert.equal(session.status, 'closed');
    assert.equal(session.dropped, 42);
    assert.equal(session.statements, 52, 'dropped statements still count');
    assert.equal((await events(store, late.id)).session.status, 'closed');
    assert.equal(recorder.stats().dropped, 42);
    await recorder.close();
    await store.close();
  });

  it('logs a failed write, retries it, and never rejects', async () => {
    const { store, state } = flakyStore(await tempStore());
    const { logger, lines } = captureLogger();
    const recorder = Recorder.open({ store, logger, flushIntervalMs: 60_000 });
    await recorder.flush();
    state.failing = true;
    const rec = recorder.start(INFO);
    rec.event('statement', { text: 'SELECT 1' });
    await recorder.flush();
    assert.equal(recorder.stats().writeErrors, 1);
    assert.equal(recorder.stats().queued, 2, 'the failed batch is kept for the next flush');
    const err = lines.find((l) => l.level === ERROR);
    assert.match(String(err?.msg), /failed; will retry/);
    state.failing = false;
    rec.end('closed');
    await recorder.flush();
    const { session, events: evs } = await events(store, rec.id);
    assert.equal(session.status, 'closed');
    assert.equal(evs.length, 1);
    assert.equal(recorder.stats().queued, 0);
    await recorder.close();
    await store.close();
  });

  it('after repeated failures gives up on the events of a batch, never on start and end', async () => {
    const { store, state } = flakyStore(await tempStore());
    const recorder = Recorder.open({ store, logger: captureLogger().logger, flushIntervalMs: 60_000 });
    await recorder.flush();
    state.failing = true;
    const rec = recorder.start(INFO);
    for (let i = 0; i < 5; i++) rec.event('statement', { i });
    const ended = recorder.start(INFO);
    ended.event('statement', { i: 0 });
    ended.end('closed');
    for (let i = 0; i < 5; i++) await recorder.flush();
    assert.equal(recorder.stats().dropped, 6);
    state.failing = false;
    rec.end('closed');
    await recorder.flush();
    const got = await events(store, rec.id);
    assert.deepEqual(got.events.map((e) => [e.seq, e.kind, e.data.count]), [[6, 'dropped', 5]], 'the seq gap shows where the lost events were');
    assert.equal(got.session.dropped, 5);
    assert.equal((await events(store, ended.id)).session.status, 'closed');
    await recorder.close();
    await store.close();
  });

  it('survives its store being closed under it', async () => {
    const store = await tempStore();
    const { logger, lines } = captureLogger();
    const recorder = Recorder.open({ store, logger, flushIntervalMs: 10 });
    await recorder.flush();
    const rec = recorder.start(INFO);
    await store.close();
    rec.event('statement', { text: 'SELECT 1' });
    await recorder.flush();
    await new Promise((resolve) => setTimeout(resolve, 50)); // a few timer flushes
    await recorder.close();
    assert.ok(lines.some((l) => l.level === ERROR && /failed; will retry/.test(l.msg)));
    assert.ok(lines.some((l) => l.level === ERROR && /closed with unwritten/.test(l.msg)));
  });

  it('ends recordings still open at close as terminated; ignores them afterwards', async () => {
    const store = await tempStore();
    const { logger, lines } = captureLogger();
    const recorder = Recorder.open({ store, logger });
    const rec = recorder.start(INFO);
    rec.event('statement', { text: 'SELECT 1' });
    await recorder.close();
    await recorder.close();
    rec.event('statement', { text: 'SELECT 2' });
    rec.end('closed');
    const after = recorder.start(INFO);
    after.event('statement', {});
    const { session, events: evs } = await events(store, rec.id);
    assert.equal(session.status, 'terminated');
    assert.equal(evs.length, 1);
    assert.equal(await getSession(store, after.id), undefined);
    assert.ok(lines.some((l) => l.level === WARN && /not recorded/.test(l.msg)));
    assert.equal(recorder.stats().queued, 0);
    await store.close();
  });

  if (mode === 'writer thread') {
    it('retries a batch lost with a writer thread that died, on a new thread', async () => {
      const store = await tempStore();
      const { logger, lines } = captureLogger();
      const recorder = Recorder.open({ store, logger, flushIntervalMs: 60_000 });
      await recorder.flush();
      const rec = recorder.start(INFO);
      rec.event('statement', { text: 'SELECT 1' });
      const flushed = recorder.flush();
      await sqliteStore(store).writer?.kill();
      await flushed;
      await new Promise((resolve) => setTimeout(resolve, 1100)); // a new thread starts at most once a second
      rec.end('closed');
      await recorder.flush();
      const { session, events: evs } = await events(store, rec.id);
      assert.equal(session.status, 'closed');
      assert.deepEqual(evs.map((e) => e.data.text), ['SELECT 1']);
      assert.equal(recorder.stats().queued, 0);
      // Whether the batch died with the thread or committed before it: never lost, never twice.
      assert.ok(recorder.stats().writeErrors <= 1);
      assert.ok(!lines.some((l) => l.level === ERROR && /closed with unwritten/.test(l.msg)));
      await recorder.close();
      await store.close();
    });
  }
});
