import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deriveMaskHashKey, MASK_HASH_INFO, maskHashKeyFromConfig, resolveMaskHashKey } from '../../src/masking/hash-key.ts';
import { applyMask, applyMaskBytes, createHasher, partial, partialBytes, redact, redactBytes } from '../../src/masking/maskers.ts';
import { hkdfSync } from 'node:crypto';

const KEY = Buffer.alloc(32, 1);
const hash = createHasher(KEY);

// Inputs no masker may throw on.
const HOSTILE: Array<string | Buffer> = [
  '',
  'a',
  '\u0000\u0001\u0002',
  '\ud83d', // lone surrogate
  '😀😀😀😀😀😀😀😀😀',
  'x'.repeat(5_000_000),
  Buffer.from([0xff, 0xfe, 0x00, 0xc3]), // invalid UTF-8
  Buffer.alloc(0),
  Buffer.alloc(1_000_000, 0xe9),
];

describe('redact', () => {
  it('is a fixed **** whatever the value', () => {
    assert.equal(redact('secret value'), '****');
    assert.equal(redact(''), '****');
    assert.deepEqual(redactBytes(Buffer.from('x'.repeat(100))), Buffer.from('****'));
  });
  it('gives a fresh buffer each time', () => {
    const a = redactBytes();
    a[0] = 0;
    assert.deepEqual(redactBytes(), Buffer.from('****'));
  });
});

describe('partial', () => {
  it('keeps the first character of an email local part and the domain', () => {
    assert.equal(partial('jane.doe@example.com'), 'j***@example.com');
    assert.equal(partial('j@example.com'), '***@example.com');
  });
  it('keeps the last four digits and the grouping of a card number', () => {
    assert.equal(partial('4242 4242 4242 4242'), '**** **** **** 4242');
    assert.equal(partial('4242-4242-4242-4242'), '****-****-****-4242');
    assert.equal(partial('4242424242424242'), '************4242');
  });
  it('keeps the last four characters of other values of eight or more, else redacts', () => {
    assert.equal(partial('123456789'), '****6789');
    assert.equal(partial('1234567'), '****');
    assert.equal(partial(''), '****');
  });
  it('takes a configurable head or tail, up to half of the value', () => {
    assert.equal(partial('ABCDEFGHIJ', { head: 2 }), 'AB****');
    assert.equal(partial('ABCDEFGHIJ', { tail: 3 }), '****HIJ');
    assert.equal(partial('ABCDEFGHIJ', { head: 1, tail: 1 }), 'A****J');
    assert.equal(partial('ABCDE', { head: 3 }), '****');
    assert.equal(partial('ABCDEFGHIJ', { head: 0, tail: 0 }), '****');
  });
  it('never splits a surrogate pair', () => {
    const out = partial('abcdefg😀');
    assert.equal(out, '****fg😀');
    assert.ok(!/[\ud800-\udbff](?![\udc00-\udfff])/.test(out));
  });
  it('works on bytes; binary and invalid UTF-8 are redacted whole', () => {
    assert.deepEqual(partialBytes(Buffer.from('jane@example.com')), Buffer.from('j***@example.com'));
    assert.deepEqual(partialBytes(Buffer.from([0xff, 0xfe, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47])), Buffer.from('****'));
  });
});

describe('hash', () => {
  it('is a short stable token', () => {
    const t = hash('jane@example.com');
    assert.match(t, /^h:[0-9a-f]{16}$/);
    assert.equal(hash('jane@example.com'), t);
    assert.notEqual(hash('jane@example.org'), t);
  });
  it('depends on the key', () => {
    assert.notEqual(createHasher(Buffer.alloc(32, 2))('jane@example.com'), hash('jane@example.com'));
  });
  it('gives a string and its UTF-8 bytes the same token', () => {
    assert.equal(hash(Buffer.from('Søren')), hash('Søren'));
  });
  it('is not a plain hash of the value', async () => {
    const { createHash } = await import('node:crypto');
    const plain = createHash('sha256').update('123-45-6789').digest('hex').slice(0, 16);
    assert.notEqual(hash('123-45-6789'), `h:${plain}`);
  });
  it('refuses a short key', () => {
    assert.throws(() => createHasher(Buffer.alloc(8)), RangeError);
  });
});

describe('null and applyMask', () => {
  it('null is SQL NULL', () => {
    assert.equal(applyMask('null', 'x', hash), null);
    assert.equal(applyMaskBytes('null', Buffer.from('x'), hash), null);
  });
  it('dispatches by function name', () => {
    assert.equal(applyMask('redact', 'x', hash), '****');
    assert.equal(applyMask('partial', 'jane@example.com', hash), 'j***@example.com');
    assert.equal(applyMask('hash', 'x', hash), hash('x'));
    assert.deepEqual(applyMaskBytes('hash', Buffer.from('x'), hash), Buffer.from(hash('x')));
  });
  it('no masker throws on hostile input', () => {
    for (const v of HOSTILE) {
      for (const fn of ['redact', 'partial', 'hash', 'null'] as const) {
        if (typeof v === 'string') assert.doesNotThrow(() => applyMask(fn, v, hash));
        else assert.doesNotThrow(() => applyMaskBytes(fn, v, hash));
      }
    }
  });
});

describe('hash key', () => {
  it('derives a key from the master key with HKDF-SHA-256', () => {
    const master = Buffer.alloc(32, 9);
    const key = deriveMaskHashKey(master);
    assert.equal(key.length, 32);
    assert.deepEqual(key, Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), MASK_HASH_INFO, 32)));
    assert.notDeepEqual(key, master);
    assert.deepEqual(deriveMaskHashKey(master), key);
  });
  it('uses the configured key when there is one', () => {
    const configured = 'k'.repeat(40);
    assert.deepEqual(resolveMaskHashKey(configured, Buffer.alloc(32)), maskHashKeyFromConfig(configured));
    assert.deepEqual(resolveMaskHashKey(undefined, Buffer.alloc(32, 3)), deriveMaskHashKey(Buffer.alloc(32, 3)));
  });
});
