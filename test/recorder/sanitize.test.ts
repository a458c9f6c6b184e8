import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Recorder } from '../../src/recorder/recorder.ts';
import { getSession } from '../../src/recorder/reader.ts';
import { MAX_PARAMS, MAX_PARAM_BYTES, MAX_STRING_BYTES, REDACTED, cleanEventData, eventDataJson, truncateText } from '../../src/recorder/sanitize.ts';
import { captureLogger, tempStore } from './helpers.ts';
import { rng } from '../support/rng.ts';

describe('recorded event data', () => {
  it('cuts huge statement text with a marker naming the original size', async () => {
    const store = await tempStore();
    const recorder = Recorder.open({ store, logger: captureLogger().logger });
    const rec = recorder.start({ connection: 'app-db', protocol: 'postgres', subject: 'a', clientAddr: null });
    const text = `INSERT INTO t VALUES ('${'x'.repeat(200 * 1024)}')`;
    rec.event('statement', { text, params: Array.from({ length: 1000 }, (_, i) => (i === 0 ? 'y'.repeat(10_000) : String(i))) });
    rec.end('closed');
    await recorder.close();
    const got = await getSession(store, rec.id);
    const data = got?.events[0]?.data;
    assert.ok(data);
    const stored = String(data.text);
    assert.ok(stored.startsWith("INSERT INTO t VALUES ('xxx"));
    assert.ok(stored.endsWith(`…[truncated: ${Buffer.byteLength(text)} bytes]`), stored.slice(-60));
    assert.ok(Buffer.byteLength(stored) < MAX_STRING_BYTES + 64);
    const params = data.params as string[];
    assert.equal(params.length, MAX_PARAMS + 1);
    assert.equal(params[MAX_PARAMS], '…[truncated: 1000 items]');
    assert.ok(String(params[0]).endsWith('…[truncated: 10000 bytes]'));
    assert.ok(Buffer.byteLength(String(params[0])) < MAX_PARAM_BYTES + 64);
    await store.close();
  });

  it('never splits a multi-byte character', () => {
    const cut = truncateText('é'.repeat(100), 51);
    assert.equal(cut, `${'é'.repeat(25)}…[truncated: 200 bytes]`);
    assert.equal(truncateText('short', 10), 'short');
  });

  it('converts what JSON cannot hold and redacts secret-named keys', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const json = JSON.parse(
      eventDataJson({ n: 10n, nan: Number.NaN, bytes: Buffer.from('hello'), when: new Date(0), missing: undefined, err: new Error('boom'), upstream: { Password: 'hunter2', api_key: 'k' }, cyclic }),
    ) as Record<string, unknown>;
    assert.deepEqual({ ...json, cyclic: undefined }, {
      n: '10',
      nan: 'NaN',
      bytes: { base64: 'aGVsbG8=' },
      when: '1970-01-01T00:00:00.000Z',
      missing: null,
      err: { error: 'Error', message: 'boom' },
      upstream: { Password: REDACTED, api_key: REDACTED },
      cyclic: undefined,
    });
    assert.match(JSON.stringify(json.cyclic), /nested too deep/);
  });

  it('records a getter that throws instead of failing the batch', () => {
    const data = Object.defineProperty({}, 'bad', { enumerable: true, get: () => { throw new Error('no'); } });
    assert.deepEqual(JSON.parse(eventDataJson(data)), { unrecordable: 'no' });
  });

  it('writes what the cleaned copy would be, whether it takes the no-copy path or not (2000 random events)', () => {
    const next = rng(99);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
    const long = 'é'.repeat(MAX_PARAM_BYTES);
    const leaves: unknown[] = [null, true, 0, -0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 'text', '', long, undefined, 10n, new Date(0), Buffer.from('hi'), new Error('boom'), () => 1, new Map([[1, 2]])];
    const keys = ['text', 'rows', 'params', 'password', 'token', 'tag', 'nested', 'x'];
    const value = (depth: number): unknown => {
      const r = next();
      if (depth > 3 || r < 0.45) return pick(leaves);
      if (r < 0.6) return Array.from({ length: Math.floor(next() * 5) }, () => value(depth + 1));
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 5); i > 0; i--) out[pick(keys)] = value(depth + 1);
      return out;
    };
    let unchanged = 0;
    for (let i = 0; i < 2000; i++) {
      const data: Record<string, unknown> = {};
      for (let k = Math.floor(next() * 6); k > 0; k--) data[pick(keys)] = value(1);
      const expected = JSON.stringify(cleanEventData(data));
      let plain: string | undefined;
      try {
        plain = JSON.stringify(data);
      } catch {
        plain = undefined; // a bigint: only the cleaned copy can be written
      }
      if (expected === plain) unchanged++;
      assert.equal(eventDataJson(data), expected);
    }
    assert.ok(unchanged > 100, `only ${unchanged} events needed no cleaning`);
  });
});
