// `audit verify --witness FILE` with a real file witness: a gateway signs heads into the file
// while it works; the intact chain agrees with it; after the newest records (and their
// checkpoints) are cut from the store, the chain alone still verifies, but the witness shows
// the truncation, by line, with exit 1, and the gateway's start-up check records it as an
// `audit.witness_mismatch` event; a witness line with a forged signature is named too.
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { loadConfig } from '../../src/config/load.ts';
import { startGateway } from '../../src/runtime/gateway.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { runCli } from '../support/cli.ts';
import { startTestGateway } from '../support/gateway.ts';
import { tempDir } from '../support/tmp.ts';

describe('audit verify --witness', () => {
  it('agrees with an intact chain and detects a cut tail', async () => {
    const heads = join(tempDir('pcs-witness-'), 'heads.jsonl');
    const t = await startTestGateway(`
audit:
  checkpoint: { every_records: 2, every_ms: 60000 }
  witness:
    - { type: file, path: "${heads}" }
`);
    // Each issued token is an audited record; a checkpoint (and a witnessed head) every two.
    for (let i = 0; i < 7; i++) await t.token(`bot-${i}`, ['agents']);
    await t.stop();
    const lines = readFileSync(heads, 'utf8').trim().split('\n');
    assert.ok(lines.length >= 3, `heads witnessed: ${lines.length}`);

    const ok = await runCli(['audit', 'verify', '--witness', heads, '--config', t.configFile]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /witness agrees: \d+ heads/);

    // The store's owner cuts the newest records and their checkpoints: the chain still holds.
    const db = new SQLite(join(t.dir, 'portcullis.db'));
    const last = (db.prepare('SELECT max(seq) AS seq FROM audit').get() as { seq: number }).seq;
    db.prepare('DELETE FROM audit WHERE seq > ?').run(last - 3);
    db.prepare('DELETE FROM audit_checkpoints WHERE seq > ?').run(last - 3);
    const intact = await runCli(['audit', 'verify', '--config', t.configFile]);
    assert.equal(intact.code, 0, `the cut chain verifies without a witness: ${intact.stdout}`);
    db.close();
    const cut = await runCli(['audit', 'verify', '--witness', heads, '--config', t.configFile]);
    assert.equal(cut.code, 1, cut.stdout + cut.stderr);
    assert.match(cut.stdout, /witness DISAGREES/);
    assert.match(cut.stdout, /store_behind: /);

    // The gateway's own start-up check sees it too, and records it in the (cut) chain.
    const again = await startGateway(loadConfig(t.configFile), createLogger('silent'));
    const mismatches = await again.services.audit.list({ type: 'audit.witness_mismatch' });
    await again.stop('test done');
    assert.equal(mismatches.length, 1, JSON.stringify(mismatches));
    assert.equal((mismatches[0]?.data as { problem?: string }).problem, 'store_behind');

    const json = await runCli(['audit', 'verify', '--json', '--witness', heads, '--config', t.configFile]);
    const parsed = JSON.parse(json.stdout) as { witness: { ok: boolean; problems: { problem: string; line: number }[] } };
    assert.equal(parsed.witness.ok, false);
    // The restart wrote new records where the cut ones were: the witness now sees them rewritten.
    assert.ok(parsed.witness.problems.length > 0);
    assert.ok(parsed.witness.problems.every((p) => (p.problem === 'store_behind' || p.problem === 'hash_differs') && p.line >= 1), JSON.stringify(parsed.witness.problems));
    assert.ok(parsed.witness.problems.some((p) => p.problem === 'hash_differs'));

    // A line someone appended with the real key id but a made-up signature.
    const real = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    appendFileSync(heads, `${JSON.stringify({ ...real, seq: 1, signature: Buffer.alloc(64).toString('base64') })}\n`);
    const forged = await runCli(['audit', 'verify', '--witness', heads, '--config', t.configFile]);
    assert.equal(forged.code, 1);
    assert.match(forged.stdout, /forged_line: /);

    const missing = await runCli(['audit', 'verify', '--witness', join(t.dir, 'no-such-file'), '--config', t.configFile]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the witness file/);
  });
});
