import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/load.ts';
import type { HttpAction } from '../../src/core/action.ts';
import { decide, type ConnectionRef } from '../../src/policy/decide.ts';
import { compileBodyTest, parseBodyPath, type BodyTestConfig } from '../../src/policy/http-body.ts';
import type { CompiledPolicies } from '../../src/policy/compile.ts';
import { identity, policiesFrom } from './support.ts';

const API: ConnectionRef = { name: 'billing-api', type: 'http' };
const who = identity('bot', ['agents']);

function request(method: string, path: string, extra: Partial<Pick<HttpAction, 'query' | 'headers' | 'body'>> = {}): HttpAction {
  return { kind: 'http', method, path, query: extra.query ?? {}, headers: extra.headers ?? {}, ...('body' in extra ? { body: extra.body } : {}) };
}

function verdict(policies: CompiledPolicies, action: HttpAction): string {
  return decide(policies, who, API, action).verdict;
}

/** One rule `then: allow` with this `match.http`; anything else is denied (no match). */
function allowOnly(http: string): CompiledPolicies {
  return policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - match: { http: ${http} }
        then: allow
`);
}

function holds(test: BodyTestConfig, body: unknown): boolean {
  return compileBodyTest(test)(body);
}

function problemsOf(http: string): string[] {
  try {
    allowOnly(http);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

void describe('match.http.query', () => {
  const policies = allowOnly(`{ method: [GET], query: { format: ["csv", "json"], debug: null } }`);

  void it('a named parameter must be present with a value matching one glob', () => {
    assert.equal(verdict(policies, request('GET', '/r', { query: { format: 'csv' } })), 'allow');
    assert.equal(verdict(policies, request('GET', '/r', { query: { format: 'xml' } })), 'deny');
    assert.equal(verdict(policies, request('GET', '/r')), 'deny', 'absent parameter');
  });

  void it('null means the parameter must be absent, even with an empty value', () => {
    assert.equal(verdict(policies, request('GET', '/r', { query: { format: 'json', debug: 'true' } })), 'deny');
    assert.equal(verdict(policies, request('GET', '/r', { query: { format: 'json', debug: '' } })), 'deny');
  });

  void it('multi-valued: one of the values matching is enough', () => {
    assert.equal(verdict(policies, request('GET', '/r', { query: { format: ['xml', 'csv'] } })), 'allow');
    assert.equal(verdict(policies, request('GET', '/r', { query: { format: ['xml', 'yaml'] } })), 'deny');
  });

  void it('globs: * any run, ? one character; names are case-sensitive', () => {
    const p = allowOnly(`{ query: { limit: ["?", "??"], q: "*" } }`);
    assert.equal(verdict(p, request('GET', '/r', { query: { limit: '50', q: '' } })), 'allow');
    assert.equal(verdict(p, request('GET', '/r', { query: { limit: '500', q: 'x' } })), 'deny');
    assert.equal(verdict(p, request('GET', '/r', { query: { Limit: '5', q: 'x' } })), 'deny');
  });

  void it('a parameter named like an Object.prototype member is not present by inheritance', () => {
    const p = allowOnly(`{ query: { constructor: "*" } }`);
    assert.equal(verdict(p, request('GET', '/r')), 'deny');
    const absent = allowOnly(`{ query: { toString: null } }`);
    assert.equal(verdict(absent, request('GET', '/r')), 'allow');
  });

  void it('a deny rule on a parameter catches it among other values', () => {
    const p = policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - match: { http: { query: { debug: ["true", "1"] } } }
        then: deny
      - then: allow
`);
    assert.equal(verdict(p, request('GET', '/r', { query: { debug: ['false', 'true'] } })), 'deny');
    assert.equal(verdict(p, request('GET', '/r', { query: { debug: 'false' } })), 'allow');
  });
});

void describe('match.http.headers', () => {
  const policies = allowOnly(`{ headers: { X-Env: ["staging", "dev-*"], X-Debug: null } }`);

  void it('configured names are case-insensitive (the action has lower-case names)', () => {
    assert.equal(verdict(policies, request('GET', '/r', { headers: { 'x-env': 'staging' } })), 'allow');
    assert.equal(verdict(policies, request('GET', '/r', { headers: { 'x-env': 'dev-42' } })), 'allow');
  });

  void it('values are case-sensitive globs; absent header fails', () => {
    assert.equal(verdict(policies, request('GET', '/r', { headers: { 'x-env': 'Staging' } })), 'deny');
    assert.equal(verdict(policies, request('GET', '/r')), 'deny');
  });

  void it('null: the header must be absent', () => {
    assert.equal(verdict(policies, request('GET', '/r', { headers: { 'x-env': 'staging', 'x-debug': '0' } })), 'deny');
  });

  void it('method, path, query, headers and body are ANDed', () => {
    const p = allowOnly(`{ method: [POST], path: ["/payments"], query: { dry_run: "true" }, headers: { content-type: "application/json*" }, body: [{ path: "$.amount", lt: 100 }] }`);
    const ok = { query: { dry_run: 'true' }, headers: { 'content-type': 'application/json; charset=utf-8' }, body: { amount: 5 } };
    assert.equal(verdict(p, request('POST', '/payments', ok)), 'allow');
    assert.equal(verdict(p, request('PUT', '/payments', ok)), 'deny');
    assert.equal(verdict(p, request('POST', '/refunds', ok)), 'deny');
    assert.equal(verdict(p, request('POST', '/payments', { ...ok, query: {} })), 'deny');
    assert.equal(verdict(p, request('POST', '/payments', { ...ok, headers: {} })), 'deny');
    assert.equal(verdict(p, request('POST', '/payments', { ...ok, body: { amount: 500 } })), 'deny');
  });
});

void describe('match.http.body', () => {
  void it('equals: scalars strictly, objects and arrays by JSON value (key order ignored)', () => {
    assert.ok(holds({ path: '$.currency', equals: 'EUR' }, { currency: 'EUR' }));
    assert.ok(!holds({ path: '$.amount', equals: 5 }, { amount: '5' }));
    assert.ok(holds({ path: '$.coupon', equals: null }, { coupon: null }));
    assert.ok(!holds({ path: '$.coupon', equals: null }, {}), 'missing is not null');
    assert.ok(holds({ path: '$.to', equals: { iban: 'X', bic: 'Y' } }, { to: { bic: 'Y', iban: 'X' } }));
    assert.ok(!holds({ path: '$.to', equals: { iban: 'X' } }, { to: { iban: 'X', bic: 'Y' } }));
    assert.ok(holds({ path: '$.tags', equals: ['a', 'b'] }, { tags: ['a', 'b'] }));
    assert.ok(!holds({ path: '$.tags', equals: ['a', 'b'] }, { tags: ['b', 'a'] }));
  });

  void it('in: one of the values', () => {
    const t: BodyTestConfig = { path: '$.currency', in: ['EUR', 'USD', 1, { x: 1 }] };
    assert.ok(holds(t, { currency: 'USD' }));
    assert.ok(holds(t, { currency: { x: 1 } }));
    assert.ok(!holds(t, { currency: 'GBP' }));
    assert.ok(!holds(t, { currency: '1' }));
  });

  void it('matches: a glob over string values only', () => {
    const t: BodyTestConfig = { path: '$.email', matches: '*@example.com' };
    assert.ok(holds(t, { email: 'a@example.com' }));
    assert.ok(!holds(t, { email: 'a@example.org' }));
    assert.ok(!holds({ path: '$.id', matches: '4?' }, { id: 42 }), 'a number is not a string');
  });

  void it('gt, gte, lt, lte: numbers only', () => {
    assert.ok(holds({ path: '$.amount', gt: 1000 }, { amount: 1000.5 }));
    assert.ok(!holds({ path: '$.amount', gt: 1000 }, { amount: 1000 }));
    assert.ok(holds({ path: '$.amount', gte: 1000 }, { amount: 1000 }));
    assert.ok(holds({ path: '$.amount', lt: 0 }, { amount: -1 }));
    assert.ok(holds({ path: '$.amount', lte: 0 }, { amount: 0 }));
    assert.ok(!holds({ path: '$.amount', gt: 10 }, { amount: '5000' }), 'a numeric string is not a number');
    assert.ok(!holds({ path: '$.amount', lt: 10 }, { amount: null }));
  });

  void it('exists: true and false', () => {
    assert.ok(holds({ path: '$.force', exists: true }, { force: false }));
    assert.ok(holds({ path: '$.force', exists: true }, { force: null }), 'null is a value');
    assert.ok(!holds({ path: '$.force', exists: true }, { other: 1 }));
    assert.ok(holds({ path: '$.force', exists: false }, { other: 1 }));
    assert.ok(!holds({ path: '$.force', exists: false }, { force: 1 }));
  });

  void it('nested paths, quoted names and array indexes', () => {
    const body = { order: { lines: [{ sku: 'A', qty: 1 }, { sku: 'B', qty: 7 }] }, 'odd.name': { "it's": true } };
    assert.ok(holds({ path: '$.order.lines[1].qty', equals: 7 }, body));
    assert.ok(holds({ path: "$['order']['lines'][0]['sku']", equals: 'A' }, body));
    assert.ok(holds({ path: `$['odd.name']['it\\'s']`, equals: true }, body));
    assert.ok(holds({ path: '$["odd.name"]', exists: true }, body));
    assert.ok(!holds({ path: '$.order.lines[2]', exists: true }, body), 'out of range');
    assert.ok(holds({ path: '$', equals: 3 }, 3), 'the whole body');
    assert.ok(holds({ path: '$[0]', equals: 'x' }, ['x']), 'a top-level array');
  });

  void it('lookups are strict: no .length of arrays, no inherited members, no index into objects', () => {
    assert.ok(!holds({ path: '$.items.length', exists: true }, { items: [1, 2] }));
    assert.ok(!holds({ path: '$.constructor', exists: true }, {}));
    assert.ok(!holds({ path: '$.a.toString', exists: true }, { a: 'x' }));
    assert.ok(!holds({ path: '$.a[0]', exists: true }, { a: { 0: 'x' } }));
    assert.ok(!holds({ path: "$.a['0']", exists: true }, { a: ['x'] }));
  });

  void it('[*]: by default at least one selected value must pass', () => {
    const t: BodyTestConfig = { path: '$.items[*].price', gt: 1000 };
    assert.ok(holds(t, { items: [{ price: 5 }, { price: 5000 }] }));
    assert.ok(!holds(t, { items: [{ price: 5 }, { price: 50 }] }));
    assert.ok(!holds(t, { items: [] }));
    assert.ok(holds({ path: '$.limits.*', gt: 10 }, { limits: { a: 1, b: 20 } }), '.* over object members');
  });

  void it('[*] with all: true: every selected value must pass, and at least one must be selected', () => {
    const t: BodyTestConfig = { path: '$.items[*].price', lt: 100, all: true };
    assert.ok(holds(t, { items: [{ price: 5 }, { price: 99 }] }));
    assert.ok(!holds(t, { items: [{ price: 5 }, { price: 5000 }] }));
    assert.ok(!holds(t, { items: [{ price: 5 }, { price: '5000' }] }), 'a value of the wrong type fails');
    assert.ok(!holds(t, { items: [{ price: 5 }, { cost: 5000 }] }), 'an element without the member fails');
    assert.ok(holds({ path: '$.items[*].price', gt: 1000 }, { items: [{ cost: 5000 }, { price: 5000 }] }), 'any: such an element is skipped');
    assert.ok(!holds(t, { items: [] }), 'no vacuous truth: empty array');
    assert.ok(!holds(t, {}), 'no vacuous truth: missing array');
    assert.ok(!holds(t, { items: { a: { price: 5000 } } }), '[*] also selects object member values');
  });

  void it('nested [*][*]', () => {
    const body = { rows: [[1, 2], [3, 40]] };
    assert.ok(holds({ path: '$.rows[*][*]', gt: 30 }, body));
    assert.ok(!holds({ path: '$.rows[*][*]', gt: 30, all: true }, body));
    assert.ok(holds({ path: '$.rows[*][*]', gt: 0, all: true }, body));
  });

  void it('an absent body makes every test false, exists: false included', () => {
    for (const t of [{ path: '$', exists: true }, { path: '$.x', exists: false }, { path: '$.x', equals: null }, { path: '$.x[*]', lt: 1, all: true }] as BodyTestConfig[]) {
      assert.ok(!holds(t, undefined), JSON.stringify(t));
    }
  });

  void it('a body that is not parsed JSON (raw bytes, a Map) makes every test false', () => {
    for (const body of [Buffer.from('{"amount": 1}'), new Map([['amount', 1]]), new Uint8Array(2)]) {
      assert.ok(!holds({ path: '$.amount', exists: false }, body));
      assert.ok(!holds({ path: '$', exists: true }, body));
    }
  });

  void it('through decide: allow only when every test holds; no body falls through to the next rule', () => {
    const p = policiesFrom(`
  - name: payments
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - name: big-items
        match: { http: { body: [{ path: "$.items[*].price", gt: 1000 }] } }
        then: deny
      - match: { http: { method: [POST], body: [{ path: "$.currency", in: [EUR, USD] }, { path: "$.items[*].price", lt: 100, all: true }] } }
        then: allow
      - match: { http: { method: [POST] } }
        then: review
`);
    const post = (body?: unknown): HttpAction => request('POST', '/orders', body === undefined ? {} : { body });
    assert.equal(verdict(p, post({ currency: 'EUR', items: [{ price: 10 }, { price: 20 }] })), 'allow');
    assert.equal(decide(p, who, API, post({ currency: 'EUR', items: [{ price: 10 }, { price: 2000 }] })).rule?.name, 'big-items');
    assert.equal(verdict(p, post({ currency: 'EUR', items: [{ price: 10 }, { price: 200 }] })), 'review');
    assert.equal(verdict(p, post({ currency: 'GBP', items: [{ price: 10 }] })), 'review');
    assert.equal(verdict(p, post()), 'review', 'no body: neither the deny nor the allow rule matches');
  });
});

void describe('match.http body paths', () => {
  void it('parses $, .name, [\'name\'], [n], [*] and .*', () => {
    assert.deepEqual(parseBodyPath('$'), []);
    assert.deepEqual(parseBodyPath("$.a['b c'][2][*].*"), [
      { kind: 'member', name: 'a' },
      { kind: 'member', name: 'b c' },
      { kind: 'index', index: 2 },
      { kind: 'each' },
      { kind: 'each' },
    ]);
  });

  void it('rejects what it does not support, saying where', () => {
    for (const [path, message] of [
      ['amount', /starts with \$/],
      ['$..amount', /recursive descent/],
      ['$.', /member name/],
      ['$[-1]', /expected \[n\]/],
      ["$['a", /unterminated/],
      ['$[1', /expected \]/],
      ['$ .a', /unexpected " "/],
      ['$[?(@.a)]', /expected \[n\]/],
    ] as const) {
      assert.throws(() => parseBodyPath(path), { message }, path);
    }
  });
});

void describe('match.http validation', () => {
  const at = 'policies[0].rules[0].match.http';

  void it('accepts the documented shapes', () => {
    assert.deepEqual(problemsOf(`{ query: { a: x, b: [y, "z*"], c: null, d: "" }, headers: { X-A: "*", x-b: ~ }, body: [{ path: "$.a", equals: { k: [1, null] } }, { path: "$.b[*]", gte: 1, all: true }] }`), []);
  });

  void it('a body test has exactly one comparison', () => {
    assert.deepEqual(problemsOf(`{ body: [{ path: "$.a" }] }`), [`${at}.body[0]: a body test needs one comparison: equals, in, matches, gt, gte, lt, lte, exists`]);
    assert.deepEqual(problemsOf(`{ body: [{ path: "$.a", gt: 1, lt: 5 }] }`), [`${at}.body[0]: a body test has exactly one comparison, got gt and lt (write one test for each: all must hold)`]);
    assert.deepEqual(problemsOf(`{ body: [{ path: "$.a", equals: null, exists: true }] }`), [`${at}.body[0]: a body test has exactly one comparison, got equals and exists (write one test for each: all must hold)`]);
  });

  void it('the path must parse; gt and friends need numbers; all does not go with exists', () => {
    assert.deepEqual(problemsOf(`{ body: [{ path: "$..a", gt: 1 }] }`), [`${at}.body[0].path: recursive descent (..) is not supported at character 3 of "$..a"`]);
    assert.deepEqual(problemsOf(`{ body: [{ path: "$.a", gt: "5" }] }`), [`${at}.body[0].gt: expected number, got string`]);
    assert.deepEqual(problemsOf(`{ body: [{ path: "$.a[*]", exists: true, all: true }] }`), [`${at}.body[0].all: all goes with a comparison of values, not with exists`]);
    assert.deepEqual(problemsOf(`{ body: [{ path: "$.a", equals: 1, than: 2 }] }`), [`${at}.body[0]: unknown key than (allowed here: path, equals, in, matches, gt, gte, lt, lte, exists, all)`]);
  });

  void it('query and header lists are not empty; header names are tokens, named once', () => {
    assert.deepEqual(problemsOf(`{ query: { a: [] } }`).length, 1);
    assert.deepEqual(problemsOf(`{ headers: { "x env": "*" } }`).length, 1);
    assert.deepEqual(problemsOf(`{ headers: { X-Env: a, x-env: b } }`), [`${at}.headers.x-env: header x-env is named twice (names are case-insensitive)`]);
  });
});
