// The documented formats (docs/audit.md), checked from outside: record hashes recomputed from the
// columns with node:crypto + canonicalize, checkpoint signatures checked with node:crypto and the
// .pub file alone. If one of these fails, existing logs would no longer verify: do not "fix" the
// expected values, fix the code.
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GENESIS_HASH, recordHash } from '../../src/audit/record-hash.ts';
import { appendMany, attacker, independentHash, openFixture, rawRows, type Fixture } from './helpers.ts';

await test('audit formats', async (t) => {
  const fixtures: Fixture[] = [];
  t.after(async () => {
    for (const f of fixtures) await f.store.close();
  });

  await t.test('hashes the documented example to the documented value', () => {
    const canonical =
      '{"actor":"system","at":1732579200000,"data":{"listeners":["postgres:5433"],"version":"0.1.0"},' +
      '"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"type":"gateway.started"}';
    const expected = '0274c9088b029cf0ca0f65a8e76295f07c2646b7d56c76166a812256191a8448';
    assert.equal(createHash('sha256').update(canonical).digest('hex'), expected);
    const fields = { seq: 1, at: 1732579200000, type: 'gateway.started', actor: 'system', data: { version: '0.1.0', listeners: ['postgres:5433'] }, prevHash: GENESIS_HASH };
    assert.equal(recordHash(fields), expected);
  });

  await t.test('lets an outsider re-verify every record and checkpoint from the raw tables', async () => {
    const f = await openFixture(7);
    fixtures.push(f);
    await appendMany(f.log, 20);
    await f.log.append({ type: 'auth.login', actor: 'alice@example.com', data: { groups: ['dba', 'oncall'], ip: '10.0.0.7', note: 'naïve ✓ "quoted"', ratio: 0.1, big: 1e21 } });
    await f.log.close();

    const db = attacker(f.dbFile);
    const rows = rawRows(db);
    const checkpoints = db.prepare('SELECT seq, hash, key_id, signature FROM audit_checkpoints ORDER BY seq').all() as { seq: number; hash: string; key_id: string; signature: string }[];
    db.close();

    let prev = '0'.repeat(64);
    for (const row of rows) {
      assert.equal(row.prev_hash, prev, `record ${row.seq} links to the previous hash`);
      assert.equal(independentHash(row), row.hash, `record ${row.seq} hash`);
      prev = row.hash;
    }

    const publicKey = createPublicKey(readFileSync(`${f.keyFile}.pub`, 'utf8'));
    const raw = Buffer.from(publicKey.export({ format: 'der', type: 'spki' })).subarray(-32);
    const keyId = createHash('sha256').update(raw).digest('hex').slice(0, 16);
    assert.equal(keyId, f.log.keyId);
    assert.deepEqual(checkpoints.map((c) => c.seq), [7, 14, 21]);
    for (const cp of checkpoints) {
      assert.equal(cp.key_id, keyId);
      assert.equal(cp.hash, rows[cp.seq - 1]?.hash);
      const message = Buffer.from(`portcullis-audit-checkpoint\nv1\n${cp.seq}\n${cp.hash}`, 'utf8');
      assert.ok(verify(null, message, publicKey, Buffer.from(cp.signature, 'base64')), `checkpoint ${cp.seq} signature`);
    }
  });
});
