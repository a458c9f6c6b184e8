// The scanner as the data path uses it: masked values with each rule's function, the same
// instance back when nothing is found, bytes as well as strings, and speed on large values.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_DETECTORS } from '../../src/masking/detectors/names.ts';
import { createHasher } from '../../src/masking/maskers.ts';
import { createContentScanner, type ContentScanner } from '../../src/masking/scanner.ts';
import type { MaskRule } from '../../src/masking/types.ts';
import { KEY } from './helpers.ts';

const hasher = createHasher(KEY);

function scanner(rules: MaskRule[]): ContentScanner {
  const s = createContentScanner(rules, hasher);
  assert.ok(s);
  return s;
}

const all = scanner(BUILTIN_DETECTORS.map((detector) => ({ detector, with: 'partial' })));

describe('ContentScanner', () => {
  it('masks findings inside longer text, several per value', () => {
    assert.equal(all.scan('Contact: jane@example.com, card 4242 4242 4242 4242.'), 'Contact: j***@example.com, card **** **** **** 4242.');
    assert.equal(all.scan('jane@example.com, bob@example.org; x@example.net'), 'j***@example.com, b***@example.org; ***@example.net');
  });

  it('uses the function each rule names', () => {
    const s = scanner([
      { detector: 'email', with: 'redact' },
      { detector: 'payment_card', with: 'hash' },
      { detector: 'us_ssn', with: 'partial' },
    ]);
    assert.equal(s.scan('jane@example.com 4242424242424242 123-45-6789'), `**** ${hasher('4242424242424242')} ***-**-6789`);
  });

  it('turns the whole value into NULL for a null rule', () => {
    const s = scanner([{ detector: 'email', with: 'null' }]);
    assert.equal(s.scan('mail jane@example.com'), null);
    assert.equal(s.scan('no address here'), 'no address here');
  });

  it('returns the same instance when nothing is found', () => {
    const v = ['Jane', 'Doe'].join(' ') + ', 42 Main St, order 1234 on 2024-01-15';
    assert.equal(all.scan(v), v);
    const b = Buffer.from(v);
    assert.equal(all.scanBytes(b), b);
    const empty = Buffer.alloc(0);
    assert.equal(all.scanBytes(empty), empty);
  });

  it('runs only the detectors a policy enables', () => {
    const emailOnly = scanner([{ detector: 'email', with: 'redact' }]);
    const v = 'jane@example.com 4242 4242 4242 4242';
    assert.equal(emailOnly.scan(v), '**** 4242 4242 4242 4242');
    assert.deepEqual(emailOnly.detectors, ['email']);
    const cardOnly = scanner([{ detector: 'card', with: 'redact' }]);
    assert.equal(cardOnly.scan(v), 'jane@example.com ****');
    assert.equal(createContentScanner([{ column: '*.*.ssn', with: 'redact' }], hasher), undefined);
  });

  it('expands groups, and a detector named twice runs once under the stronger function', () => {
    const s = scanner([
      { detector: 'secrets', with: 'partial' },
      { detector: 'aws_access_key', with: 'redact' },
    ]);
    assert.ok(s.detectors.includes('github_token'));
    assert.equal(s.detectors.filter((d) => d === 'aws_access_key').length, 1);
    assert.equal(s.scan('AKIAIOSFODNN7EXAMPLE'), '****');
  });

  it('joins overlapping findings and masks them once', () => {
    const s = scanner([{ detector: 'email', with: 'redact' }, { detector: 'custom', name: 'mailbox', pattern: 'jane@example', with: 'partial' }]);
    assert.deepEqual(s.findings('to jane@example.com').map((f) => [f.start, f.end, f.detector]), [[3, 19, 'email']]);
    assert.equal(s.scan('to jane@example.com'), 'to ****');
  });

  it('supports custom regex detectors', () => {
    const s = scanner([{ detector: 'custom', name: 'employee_id', pattern: 'EMP-[0-9]{6}', with: 'redact' }]);
    assert.equal(s.scan('EMP-123456 reports to EMP-654321; EMP-12 is too short'), '**** reports to ****; EMP-12 is too short');
    assert.deepEqual(s.detectors, ['employee_id']);
  });

  it('masks bytes: ASCII, UTF-8 and invalid UTF-8', () => {
    assert.deepEqual(all.scanBytes(Buffer.from('mail jane@example.com')), Buffer.from('mail j***@example.com'));
    assert.deepEqual(all.scanBytes(Buffer.from('Søren: søren@example.com ✓')), Buffer.from('Søren: s***@example.com ✓'));
    const binary = Buffer.concat([Buffer.from([0xff, 0x00]), Buffer.from(' jane@example.com '), Buffer.from([0xc3])]);
    assert.deepEqual(all.scanBytes(binary), Buffer.concat([Buffer.from([0xff, 0x00]), Buffer.from(' j***@example.com '), Buffer.from([0xc3])]));
    assert.equal(scanner([{ detector: 'email', with: 'null' }]).scanBytes(Buffer.from('jane@example.com')), null);
  });

  it('hash tokens are the same for a value as string and as bytes', () => {
    const s = scanner([{ detector: 'email', with: 'hash' }]);
    assert.deepEqual(s.scanBytes(Buffer.from('x jane@example.com')), Buffer.from(s.scan('x jane@example.com') as string));
  });

  it('never throws on hostile values', () => {
    const hostile = ['', '@', '@'.repeat(100_000), '+'.repeat(100_000), ':'.repeat(100_000), 'eyJ'.repeat(50_000), '-----BEGIN '.repeat(10_000), '4'.repeat(100_000), '://@'.repeat(10_000), '\ud800'.repeat(1000)];
    for (const v of hostile) assert.doesNotThrow(() => all.scan(v));
  });

  it('scans 1 MB without findings quickly and returns the same instance', () => {
    const line = 'The quick brown fox jumps over the lazy dog; order 1234 shipped at 10:30 on 2024-01-15, v1.2.3. ';
    const big = Buffer.from(line.repeat(Math.ceil((1 << 20) / line.length))).toString('latin1');
    all.scan(big);
    const t0 = performance.now();
    const out = all.scan(big);
    const ms = performance.now() - t0;
    assert.equal(out, big);
    assert.ok(ms < 2500, `1 MB took ${ms.toFixed(1)} ms`);
    const bytes = Buffer.from(big);
    assert.equal(all.scanBytes(bytes), bytes);
  });

  it('pathological inputs stay linear', () => {
    const cases = ['a@'.repeat(200_000), '1 '.repeat(200_000), 'eyJ.'.repeat(100_000), 'AAAA1111'.repeat(50_000), 'ab:'.repeat(150_000), 'x://y:'.repeat(60_000)];
    for (const v of cases) {
      const t0 = performance.now();
      all.scan(v);
      const ms = performance.now() - t0;
      assert.ok(ms < 5000, `${JSON.stringify(v.slice(0, 8))}... took ${ms.toFixed(0)} ms`);
    }
  });
});
