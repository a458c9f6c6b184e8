// Tampering with the stored log, done as an attacker would (a raw connection on the same file),
// must be detected and the FIRST broken record named.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import type { Database } from 'better-sqlite3';
import { loadPublicKey, publicKeyId } from '../../src/audit/signing-key.ts';
import { verifyAudit, type VerifyResult } from '../../src/audit/verify.ts';
import { appendMany, attacker, independentHash, openFixture, rawRows, rehashFrom, type Fixture } from './helpers.ts';

const RECORDS = 250;

/** A closed log of 250 records: checkpoints at 100, 200 and (from close) 250. */
async function closedLog(): Promise<Fixture> {
  const f = await openFixture(100);
  await appendMany(f.log, RECORDS);
  await f.log.close();
  return f;
}

async function verify(f: Fixture): Promise<VerifyResult> {
  return verifyAudit(f.store, loadPublicKey(`${f.keyFile}.pub`).publicKey);
}

function assertBroken(result: VerifyResult, seq: number, reason: string | RegExp): void {
  assert.equal(result.ok, false, 'verification should fail');
  if (result.ok) return;
  assert.equal(result.seq, seq, result.reason);
  if (typeof reason === 'string') assert.equal(result.reason, reason);
  else assert.match(result.reason, reason);
  assert.equal(result.recordsChecked, Math.min(seq - 1, RECORDS));
}

await test('verifyAudit', async (t) => {
  const fixtures: Fixture[] = [];
  async function tampered(edit: (db: Database) => void): Promise<VerifyResult> {
    const f = await closedLog();
    fixtures.push(f);
    const db = attacker(f.dbFile);
    try {
      edit(db);
    } finally {
      db.close();
    }
    return verify(f);
  }
  t.after(async () => {
    for (const f of fixtures) await f.store.close();
  });

  await t.test('accepts a clean chain and reports its head', async () => {
    const f = await closedLog();
    fixtures.push(f);
    const result = await verify(f);
    const db = attacker(f.dbFile);
    const last = rawRows(db).at(-1);
    db.close();
    assert.deepEqual(result, { ok: true, records: RECORDS, checkpoints: 3, lastSeq: RECORDS, lastHash: last?.hash });
    assert.deepEqual(await f.log.head(), { seq: RECORDS, hash: last?.hash });
  });

  await t.test('accepts an empty log', async () => {
    const f = await openFixture();
    fixtures.push(f);
    assert.deepEqual(await verify(f), { ok: true, records: 0, checkpoints: 0, lastSeq: 0, lastHash: '0'.repeat(64) });
  });

  await t.test('names a record whose data was edited', async () => {
    const result = await tampered((db) => {
      db.prepare(`UPDATE audit SET data = '{"connection":"orders-db","decision":"deny","n":17}' WHERE seq = 17`).run();
    });
    assertBroken(result, 17, 'record 17 was altered: its hash does not match its content');
  });

  await t.test('names a record whose actor or time was edited', async () => {
    const result = await tampered((db) => {
      db.prepare(`UPDATE audit SET at = at + 1 WHERE seq = 42`).run();
    });
    assertBroken(result, 42, 'record 42 was altered: its hash does not match its content');
  });

  await t.test('names a record deleted from the middle', async () => {
    const result = await tampered((db) => {
      db.prepare('DELETE FROM audit WHERE seq = 17').run();
    });
    assertBroken(result, 17, 'record 17 is missing: the chain jumps from 16 to 18');
  });

  await t.test('names a deleted first record', async () => {
    const result = await tampered((db) => {
      db.prepare('DELETE FROM audit WHERE seq = 1').run();
    });
    assertBroken(result, 1, 'record 1 is missing: the chain starts at 2');
  });

  await t.test('names the first of two reordered records (seq values swapped)', async () => {
    const result = await tampered((db) => {
      db.prepare('UPDATE audit SET seq = -1 WHERE seq = 17').run();
      db.prepare('UPDATE audit SET seq = 17 WHERE seq = 30').run();
      db.prepare('UPDATE audit SET seq = 30 WHERE seq = -1').run();
    });
    assertBroken(result, 17, 'record 17 was altered: its hash does not match its content');
  });

  await t.test('names the broken link when two records swap content and are re-hashed in place', async () => {
    const result = await tampered((db) => {
      const rows = rawRows(db);
      const [a, b] = [rows[16], rows[17]];
      assert.ok(a && b);
      const update = db.prepare('UPDATE audit SET at = ?, type = ?, actor = ?, data = ?, hash = ? WHERE seq = ?');
      // Each row gets the other's content and a hash that is right for its own seq and prev_hash.
      update.run(b.at, b.type, b.actor, b.data, independentHash({ ...b, seq: 17, prev_hash: a.prev_hash }), 17);
      update.run(a.at, a.type, a.actor, a.data, independentHash({ ...a, seq: 18, prev_hash: b.prev_hash }), 18);
    });
    assertBroken(result, 18, 'record 18 does not follow record 17');
  });

  await t.test('catches an edit hidden by re-hashing the rest of the chain, at the next checkpoint', async () => {
    const result = await tampered((db) => {
      db.prepare(`UPDATE audit SET actor = 'someone-else' WHERE seq = 117`).run();
      rehashFrom(db, 117);
    });
    assertBroken(result, 200, 'checkpoint at record 200 does not match the chain: one of records 101 to 200 was altered and the chain re-hashed');
  });

  await t.test('catches a deleted tail that a checkpoint still names', async () => {
    const result = await tampered((db) => {
      db.prepare('DELETE FROM audit WHERE seq > 170').run();
    });
    assertBroken(result, 171, 'records after 170 were removed (checkpoint at 250)');
  });

  await t.test('catches a deleted tail that took its checkpoints with it, if an earlier one remains beyond', async () => {
    // Deleting records 201..250 and the checkpoint at 250 still leaves nothing beyond 200: this is
    // the documented limit (see the last test); deleting 150..250 leaves the checkpoint at 200.
    const result = await tampered((db) => {
      db.prepare('DELETE FROM audit WHERE seq >= 150').run();
      db.prepare('DELETE FROM audit_checkpoints WHERE seq = 250').run();
    });
    assertBroken(result, 150, 'records after 149 were removed (checkpoint at 200)');
  });

  await t.test('rejects a checkpoint signed by another key under the genuine key id', async () => {
    const result = await tampered((db) => {
      const cp = db.prepare('SELECT seq, hash FROM audit_checkpoints WHERE seq = 100').get() as { seq: number; hash: string };
      const forged = sign(null, Buffer.from(`portcullis-audit-checkpoint\nv1\n${cp.seq}\n${cp.hash}`), generateKeyPairSync('ed25519').privateKey);
      db.prepare('UPDATE audit_checkpoints SET signature = ? WHERE seq = 100').run(forged.toString('base64'));
    });
    assertBroken(result, 100, /^checkpoint at record 100 is forged: its signature does not verify with key [0-9a-f]{16}$/);
  });

  await t.test('rejects a rewritten history re-signed with the attacker\'s own key', async () => {
    const result = await tampered((db) => {
      db.prepare(`UPDATE audit SET actor = 'someone-else' WHERE seq = 5`).run();
      rehashFrom(db, 5);
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const keyId = publicKeyId(publicKey);
      for (const row of rawRows(db).filter((r) => r.seq % 100 === 0 || r.seq === RECORDS)) {
        const signature = sign(null, Buffer.from(`portcullis-audit-checkpoint\nv1\n${row.seq}\n${row.hash}`), privateKey).toString('base64');
        db.prepare('UPDATE audit_checkpoints SET hash = ?, key_id = ?, signature = ? WHERE seq = ?').run(row.hash, keyId, signature, row.seq);
      }
    });
    assertBroken(result, 100, /^checkpoint at record 100 was signed by unknown key [0-9a-f]{16} /);
  });

  await t.test('rejects a checkpoint whose hash was edited', async () => {
    const result = await tampered((db) => {
      db.prepare(`UPDATE audit_checkpoints SET hash = '${'ab'.repeat(32)}' WHERE seq = 200`).run();
    });
    assertBroken(result, 200, /^checkpoint at record 200 is forged/);
  });

  await t.test('rejects data that was rewritten in a non-canonical spelling', async () => {
    const result = await tampered((db) => {
      const row = rawRows(db)[8];
      assert.ok(row);
      db.prepare('UPDATE audit SET data = ? WHERE seq = 9').run(JSON.stringify(JSON.parse(row.data), null, 2));
    });
    assertBroken(result, 9, 'record 9 was altered: its data is not stored in canonical form');
  });

  await t.test('does not detect removal of records after the last checkpoint (documented limit)', async () => {
    const f = await openFixture(100);
    fixtures.push(f);
    await appendMany(f.log, 130);
    const db = attacker(f.dbFile);
    db.prepare('DELETE FROM audit WHERE seq > 120').run();
    db.close();
    const result = await verify(f);
    assert.deepEqual({ ok: result.ok, lastSeq: result.ok ? result.lastSeq : -1 }, { ok: true, lastSeq: 120 });
  });
});
