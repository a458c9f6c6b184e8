// The analysis-cache counter: texts that differ only in literals are one miss and then hits.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { analyzePostgres, loadSqlAnalyzer } from '../../src/sql/postgres/analyze.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';

const count = (text: string, layer: string, result: string): number => {
  const m = new RegExp(`^portcullis_sql_analysis_cache_lookups_total\\{layer="${layer}",result="${result}"\\} (\\d+)$`, 'm').exec(text);
  return Number(m?.[1] ?? Number.NaN);
};

describe('analysis cache metrics', () => {
  before(() => loadSqlAnalyzer());

  it('counts a template once as a miss, then its other literals as hits', async () => {
    const metrics = new Metrics();
    const before = await metrics.registry.metrics();
    const marker = `pcs_metrics_probe_${Date.now()}`;
    for (let i = 0; i < 10; i++) analyzePostgres(`select * from ${marker} where id = ${i}`);
    const after = await metrics.registry.metrics();
    assert.equal(count(after, 'policy', 'miss') - count(before, 'policy', 'miss'), 1);
    assert.equal(count(after, 'policy', 'hit') - count(before, 'policy', 'hit'), 9);
    // The masking layer is exported too (its counting is tested with the cache itself, masking-wire.test.ts).
    assert.ok(Number.isInteger(count(after, 'masking', 'hit')) && Number.isInteger(count(after, 'masking', 'miss')));
  });
});
