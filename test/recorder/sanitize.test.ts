import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Recorder } from '../../src/recorder/recorder.ts';
import { getSession } from '../../src/recorder/reader.ts';
import { MAX_PARAMS, MAX_PARAM_BYTES, MAX_STRING_BYTES, REDACTED, eventDataJson, truncateText } from '../../src/recorder/sanitize.ts';
import { captureLogger, tempStore } from './helpers.ts';

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
});
