import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Recorder, type SessionRecording } from '../../src/recorder/recorder.ts';
import { getSession, listSessions } from '../../src/recorder/reader.ts';
import type { Store } from '../../src/store/store.ts';
import { captureLogger, tempStore } from './helpers.ts';

describe('reading recordings', () => {
  let store: Store;
  const ids: string[] = [];
  let open: SessionRecording;

  before(async () => {
    store = await tempStore();
    const recorder = Recorder.open({ store, logger: captureLogger().logger });
    // Five sessions, a millisecond apart, so that newest-first order is well defined.
    for (let i = 0; i < 5; i++) {
      const rec = recorder.start({ connection: i % 2 ? 'billing' : 'app-db', protocol: 'postgres', subject: i < 3 ? 'alice' : 'bob', clientAddr: null });
      for (let s = 0; s < 30; s++) rec.event('statement', { text: `SELECT ${s}` });
      if (i !== 4) rec.end('closed');
      else open = rec;
      ids.push(rec.id);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await recorder.flush();
  });
  after(() => store.close());

  it('lists newest first and filters by connection, subject and activity', async () => {
    assert.deepEqual((await listSessions(store, {})).map((s) => s.id), [...ids].reverse());
    assert.deepEqual((await listSessions(store, { connection: 'billing' })).map((s) => s.id), [ids[3], ids[1]]);
    assert.deepEqual((await listSessions(store, { subject: 'bob' })).map((s) => s.id), [ids[4], ids[3]]);
    assert.deepEqual((await listSessions(store, { active: true })).map((s) => s.id), [open.id]);
    assert.equal((await listSessions(store, { active: false })).length, 4);
    assert.deepEqual((await listSessions(store, { subject: 'alice', connection: 'app-db' })).map((s) => s.id), [ids[2], ids[0]]);
    const active = (await listSessions(store, { active: true }))[0];
    assert.deepEqual([active?.status, active?.endedAt, active?.statements], ['active', null, 30], 'a running session counts its statements so far');
    assert.equal((await getSession(store, open.id))?.session.statements, 30);
  });

  it('pages with the last id of the previous page', async () => {
    const seen: string[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await listSessions(store, { limit: 2, ...(before ? { before } : {}) });
      seen.push(...page.map((s) => s.id));
      if (page.length < 2) break;
      before = page[page.length - 1]?.id;
    }
    assert.deepEqual(seen, [...ids].reverse());
    assert.deepEqual(await listSessions(store, { before: 's_unknown' }), []);
    assert.deepEqual((await listSessions(store, { subject: 'alice', limit: 1, before: ids[2] })).map((s) => s.id), [ids[1]]);
  });

  it('reads a session with its events, paged by seq', async () => {
    const first = await getSession(store, ids[0] ?? '', { limit: 10 });
    assert.equal(first?.session.statements, 30);
    assert.deepEqual(first?.events.map((e) => e.seq), Array.from({ length: 10 }, (_, i) => i + 1));
    const rest = await getSession(store, ids[0] ?? '', { afterSeq: 25 });
    assert.deepEqual(rest?.events.map((e) => e.data.text), ['SELECT 25', 'SELECT 26', 'SELECT 27', 'SELECT 28', 'SELECT 29']);
    assert.equal(await getSession(store, 's_nope'), undefined);
  });
});
