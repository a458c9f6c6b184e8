// readTarget: the canonical path of every readable request target, what made it
// non-canonical, and the reason for every target no setting accepts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodedPath, readTarget } from '../../src/policy/http-target.ts';
import { rng } from '../support/rng.ts';

describe('readTarget', () => {
  it('keeps a canonical path and its query exactly', () => {
    for (const raw of ['/', '/a', '/a/', '/a/b.json', "/x/%C3%A9t%C3%A9%20!$&'()*+,=:@~", '/a%25b', '/a/...']) {
      const t = readTarget(`${raw}?q=%2F&r=..`);
      assert.deepEqual(t, { path: raw, search: '?q=%2F&r=..', unreadable: undefined, nonCanonical: undefined }, raw);
    }
  });

  it('rewrites what is not canonical, and says what it was', () => {
    const cases: [string, string, RegExp][] = [
      ['/a/./b', '/a/b', /dot segments/],
      ['/a/b/..', '/a/', /dot segments/],
      ['/a/b/.', '/a/b/', /dot segments/],
      ['/a/%2e%2E/b', '/b', /unreserved.*dot segments|dot segments.*unreserved/],
      ['/a/.%2e/b', '/b', /dot segments/],
      ['//a///b', '/a/b', /empty segments/],
      ['/%41%7e%5F', '/A~_', /unreserved/],
      ['/%c3%a9', '/%C3%A9', /lower-case/],
      ['/a"b<c>`d^e{f}|g[h]', '/a%22b%3Cc%3E%60d%5Ee%7Bf%7D%7Cg%5Bh%5D', /must be percent-encoded/],
      ['/%EF%BD%81dmin', '/%EF%BD%81dmin', /NFKC\) changes/],
      ['/cafe%CC%81', '/cafe%CC%81', /NFKC\) changes/],
    ];
    for (const [raw, path, note] of cases) {
      const t = readTarget(raw);
      assert.equal(t.unreadable, undefined, raw);
      assert.equal(t.path, path, raw);
      assert.match(t.nonCanonical ?? '', note, raw);
    }
  });

  it('refuses what a server could read as another path, in any spelling', () => {
    const cases: [string, RegExp][] = [
      ['/a%2Fb', /encoded slash/],
      ['/a%2fb', /encoded slash/],
      ['/a%5cb', /encoded backslash/],
      ['/a\\b', /backslash/],
      ['/a;b', /path parameter/],
      ['/..;/admin', /path parameter/],
      ['/a%3bb', /encoded ;/],
      ['/a%3Fb', /encoded \?/],
      ['/a%23b', /encoded #/],
      ['/a%00', /NUL/],
      ['/a%09b', /control/],
      ['/a%7F', /control/],
      ['/%252e%252e/x', /double percent-encoding/],
      ['/%25%32%65', /double percent-encoding/],
      ['/%C0%AE%C0%AE', /not valid UTF-8/],
      ['/%C0%AF', /not valid UTF-8/],
      ['/%E0%80%AF', /not valid UTF-8/],
      ['/%ED%A0%80', /not valid UTF-8/],
      ['/%C3', /not valid UTF-8/],
      ['/%EF%BC%8F', /compatibility/],
      ['/%EF%BC%BC', /compatibility/],
      ['/%EF%BC%8E%EF%BC%8E', /compatibility/],
      ['/%', /malformed/],
      ['/%4', /malformed/],
      ['/%g1', /malformed/],
      ['/..', /above the root/],
      ['/a/../..', /above the root/],
      ['/a#b', /fragment/],
      ['*', /asterisk/],
      ['http://other/a', /absolute-form/],
      ['a/b', /must be a path/],
    ];
    for (const [raw, reason] of cases) assert.match(readTarget(raw).unreadable ?? '', reason, raw);
  });

  it('still gives an unreadable target a path to route on', () => {
    assert.equal(readTarget('/billing/x/..%2Fadmin').path, '/billing/x/..%2Fadmin');
    assert.deepEqual({ ...readTarget('http://other:8080/billing/x?y=1') }, { path: '/billing/x', search: '?y=1', unreadable: readTarget('http://h/').unreadable, nonCanonical: undefined });
  });

  it('escapes in the query what the upstream URL will escape, and nothing else', () => {
    assert.equal(readTarget(`/a?q='x'&r="<>"&s=%2f{|}`).search, '?q=%27x%27&r=%22%3C%3E%22&s=%2f{|}');
  });

  it('on random targets: a canonical path reads as itself, survives the upstream URL unchanged, and decodes without dot segments', () => {
    const random = rng(16);
    // Pieces that make trouble: escapes of dots, slashes and percent, dots, slashes, UTF-8 and broken bytes.
    const pieces = ['a', 'Z', '0', '-', '_', '~', '.', '..', '/', '//', '%2e', '%2E', '%2f', '%5c', '%25', '%41', '%c3%a9', '%C3', '%A9', '%C0%AE', '%EF%BC%8F', '%20', '%7B', '{', '|', ';', '\\', '!', "'", ':', '@', '+', '%', '%g', '%00', '%3F', '%EF%BD%81'];
    let readable = 0;
    for (let n = 0; n < 5000; n++) {
      let raw = '';
      for (let k = 1 + Math.floor(random() * 8); k > 0; k--) raw += pieces[Math.floor(random() * pieces.length)] as string;
      const t = readTarget(`/${raw}`);
      if (t.unreadable !== undefined) continue;
      readable++;
      const again = readTarget(t.path);
      assert.deepEqual([again.path, again.unreadable], [t.path, undefined], `/${raw}`);
      // NFKC-changed segments are passed as sent: the one note a canonical path can still carry.
      assert.ok(again.nonCanonical === undefined || /NFKC\) changes/.test(again.nonCanonical), `/${raw}: ${again.nonCanonical ?? ''}`);
      const url = new URL('http://upstream.invalid');
      url.pathname = `/v1${t.path}`;
      assert.equal(url.pathname, `/v1${t.path}`, `/${raw}: the upstream URL rewrote it`);
      const decoded = decodedPath(t.path);
      assert.equal(decoded.split('/').length, t.path.split('/').length, `/${raw}: decoding made a separator`);
      assert.doesNotMatch(decoded, /%[0-9A-Fa-f]{2}/, `/${raw}: a second decoding would change ${decoded}`);
      assert.ok(!decoded.split('/').some((seg) => seg === '.' || seg === '..'), `/${raw}: ${decoded}`);
      assert.ok(!/[\\;\0]/.test(decoded), `/${raw}: ${decoded}`);
    }
    assert.ok(readable > 1000, `${readable} readable targets of 5000`);
  });

  it('decodes the canonical path for policy', () => {
    assert.equal(decodedPath(readTarget('/caf%c3%a9/%7e/100%25').path), '/café/~/100%');
  });
});
