// Response-body masking for the HTTP gateway: JSON paths, whole JSON documents (json rules,
// detectors, exact bytes kept), and the streaming maskers (NDJSON, SSE) whatever the
// chunking. The text masker's own tests are in test/masking/text-stream.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { maskRuleFromConfig } from '../../src/policy/mask-rules.ts';
import { compileJsonPath, formatJsonPath, JsonPathError, MAX_JSON_PATH_STEPS } from '../../src/masking/json-path.ts';
import type { MaskPlan } from '../../src/masking/plan.ts';
import { WITHHELD_LINE } from '../../src/masking/text-stream.ts';
import { bodyKind, maskJson, maskText, ndjsonMasker, needsMasking, sseMasker, WITHHELD_EVENT } from '../../src/masking/body.ts';
import { assertSplitInvariant, PEM, plan } from '../support/stream-masking.ts';

function json(text: string, p: MaskPlan): { text: string; paths: readonly string[]; hits: number; asText: boolean } {
  const r = maskJson(Buffer.from(text), p);
  return { text: r.body.toString(), paths: r.maskedPaths, hits: r.detectorHits, asText: r.asText };
}


describe('JSON paths', () => {
  const cases: Array<[string, Array<Array<string | number>>, Array<Array<string | number>>]> = [
    // path, matching, not matching
    ['$', [[]], [['a']]],
    ['$.a', [['a']], [[], ['b'], ['a', 'b'], [0]]],
    // As in RFC 9535, [*] and .* select the members of an object as well as array elements.
    ['$.customers[*].email', [['customers', 0, 'email'], ['customers', 7, 'email'], ['customers', 'x', 'email']], [['customers', 0, 'email', 'x'], ['customers', 'email']]],
    ["$['a b'][\"c\"]", [['a b', 'c']], [['a', 'b', 'c']]],
    ['$.a[2]', [['a', 2]], [['a', 1], ['a', '2']]],
    ["$['0']", [['0']], [[0]]],
    ['$.*', [['a'], [3]], [[], ['a', 'b']]],
    ['$.a.*.b', [['a', 'x', 'b'], ['a', 0, 'b']], [['a', 'b']]],
    ['$..ssn', [['ssn'], ['a', 'ssn'], ['a', 0, 1, 'b', 'ssn'], ['ssn', 'ssn']], [['ssn', 'x'], ['SSN'], []]],
    ['$..*', [['a'], [0, 'b']], [[]]],
    ['$..[1]', [[1], ['a', 1]], [['1'], ['a']]],
    ['$.a..b.c', [['a', 'b', 'c'], ['a', 'x', 'y', 'b', 'c']], [['b', 'c'], ['a', 'b', 'x', 'c']]],
    ['$..a..b', [['a', 'b'], ['x', 'a', 'y', 'z', 'b']], [['b', 'a']]],
    ["$['it\\'s'][ * ]", [["it's", 4]], [['its', 4]]],
    ['$.first-name', [['first-name']], [['first']]],
  ];
  for (const [text, yes, no] of cases) {
    it(`${text} matches and misses as it should`, () => {
      const p = compileJsonPath(text);
      for (const path of yes) assert.equal(p.matches(path), true, `${text} should match ${JSON.stringify(path)}`);
      for (const path of no) assert.equal(p.matches(path), false, `${text} should not match ${JSON.stringify(path)}`);
    });
  }

  it('refuses bad and unsupported syntax with a position', () => {
    const bad: Array<[string, RegExp, number]> = [
      ['', /empty/, 0],
      ['a.b', /starts with '\$'/, 0],
      ['$.', /expected a name or '\*'/, 2],
      ['$..', /expected a name or '\*'/, 3],
      ['$.a[', /unclosed/, 3],
      ['$.a[0', /unclosed/, 3],
      ["$['a", /unterminated quoted name/, 2],
      ['$.1', /cannot start with a digit/, 2],
      ['$[-1]', /negative/, 2],
      ['$[?(@.a)]', /filter/, 2],
      ['$[0:2]', /slices/, 3],
      ["$['a','b']", /unions/, 5],
      ['$[01]', /leading zeros/, 2],
      ['$ .a', /expected '.', '..' or '\['/, 1],
      ['$.a b', /expected '.', '..' or '\['/, 3],
      ["$['\\x']", /unknown escape/, 3],
      ['$' + '.a'.repeat(MAX_JSON_PATH_STEPS + 1), /at most 30 steps/, 2 * MAX_JSON_PATH_STEPS + 1],
    ];
    for (const [text, message, position] of bad) {
      assert.throws(() => compileJsonPath(text), (err: unknown) => err instanceof JsonPathError && message.test(err.message) && err.position === position, text);
    }
  });

  it('formats concrete paths so that they compile back to themselves', () => {
    const path = ['customers', 0, 'e-mail', 'a b', "it's", 'back\\slash', '0', 'x\ny'];
    const text = formatJsonPath(path);
    assert.equal(text, "$.customers[0].e-mail['a b']['it\\'s']['back\\\\slash']['0']['x\\ny']");
    assert.equal(compileJsonPath(text).matches(path), true);
  });

  it('matches in linear time: many descents over a deep path', () => {
    const p = compileJsonPath('$..a..b..c..d..e..f..g');
    const deep = Array.from({ length: 20000 }, (_, i) => (i % 2 === 0 ? 'a' : 'x'));
    const started = performance.now();
    assert.equal(p.matches(deep), false);
    assert.equal(p.matches([...deep, 'b', 'c', 'd', 'e', 'f', 'g']), true);
    assert.ok(performance.now() - started < 5000, 'took too long (a guard against super-linear blowup, not a speed target)');
  });
});

describe('json masks in the configuration', () => {
  const config = (masks: string): string => `
connections:
  - { name: api, type: http, upstream: { url: "https://api.example.com" } }
policies:
  - name: p
    subjects: { groups: [agents] }
    connections: [api]
    rules: [{ then: allow }]
    masks:
${masks}
`;
  const problems = (yaml: string): string[] => {
    try {
      parseConfig(yaml, 'test.yaml', {});
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems.map((p) => `${p.path}: ${p.message}`);
    }
  };

  it('accepts a JSON path and carries it into the rule', () => {
    const { config: c } = parseConfig(config('      - { json: "$..email", with: redact }\n      - { json: "$.customers[*].ssn", with: partial }'), 'test.yaml', {});
    const rules = (c.policies[0]?.masks ?? []).map((m) => maskRuleFromConfig(m));
    assert.deepEqual(rules[0], { json: '$..email', with: 'redact', denyInPredicates: false });
    assert.deepEqual(rules[1], { json: '$.customers[*].ssn', with: 'partial', denyInPredicates: false });
    // A json rule is neither a column nor a detector rule.
    const p = plan(...rules);
    assert.equal(p.hasColumnRules, false);
    assert.equal(p.scanner, undefined);
    assert.equal(p.columnMask('public', 'customers', 'email'), undefined);
    assert.equal(needsMasking(p), true);
  });

  it('a bad path is a clear error; a mask names exactly one of column, detector, json', () => {
    assert.deepEqual(problems(config('      - { json: "$.a[", with: redact }')), ['policies[0].masks[0].json: invalid JSON path "$.a[": unclosed \'[\' (at position 3)']);
    assert.deepEqual(problems(config('      - { json: "$..email", detector: email, with: redact }')), ['policies[0].masks[0]: a mask names exactly one of detector or json']);
    assert.deepEqual(problems(config('      - { json: "$.a", column: a.b.c, detector: email, with: redact }')), ['policies[0].masks[0]: a mask names exactly one of column, detector or json']);
    assert.deepEqual(problems(config('      - { with: redact }')), ['policies[0].masks[0]: a mask names one of column, detector or json']);
    assert.deepEqual(problems(config('      - { json: "$.a", pattern: "x", with: redact }')), ['policies[0].masks[0].pattern: pattern goes only with detector: custom']);
  });
});

describe('maskJson', () => {
  const customers = plan({ json: '$.customers[*].email', with: 'partial' }, { json: '$..ssn', with: 'redact' });

  it('masks by path in nested documents, at every depth, in arrays of arrays', () => {
    const doc = '{"customers":[{"id":1,"email":"jane@example.com","ssn":"123-45-6789"},{"id":2,"email":"bob@example.org","info":{"ssn":"987-65-4321"}}],"email":"top@example.com","matrix":[[{"ssn":"1"}],[{"x":{"ssn":"2"}},{"ssn":"3"}]]}';
    const r = json(doc, customers);
    assert.equal(
      r.text,
      '{"customers":[{"id":1,"email":"j***@example.com","ssn":"****"},{"id":2,"email":"b***@example.org","info":{"ssn":"****"}}],"email":"top@example.com","matrix":[[{"ssn":"****"}],[{"x":{"ssn":"****"}},{"ssn":"****"}]]}',
    );
    assert.deepEqual(r.paths, ['$.customers[0].email', '$.customers[0].ssn', '$.customers[1].email', '$.customers[1].info.ssn', '$.matrix[0][0].ssn', '$.matrix[1][0].x.ssn', '$.matrix[1][1].ssn']);
    assert.equal(r.hits, 0);
  });

  it('replaces a matched value whatever its type', () => {
    const p = plan({ json: '$.card', with: 'redact' }, { json: '$.n', with: 'partial' }, { json: '$.h', with: 'hash' }, { json: '$.gone', with: 'null' }, { json: '$.flag', with: 'redact' });
    const r = json('{"card": {"number": "4242 4242 4242 4242", "exp": [12, 29]}, "n": 123456789, "h": { "a" : [1, 2] }, "gone": {"x": 1}, "flag": true, "keep": [1]}', p);
    const h = JSON.parse(r.text) as Record<string, unknown>;
    assert.equal(h['card'], '****');
    assert.equal(h['n'], '****6789');
    assert.equal(h['gone'], null);
    assert.equal(h['flag'], '****');
    assert.deepEqual(h['keep'], [1]);
    // The hash covers the compact JSON text: indentation does not change the token.
    assert.equal(h['h'], plan({ json: '$.h', with: 'hash' }).maskValue({ with: 'hash' }, '{"a":[1,2]}'));
    assert.equal(json('{"h":{"a":[1,2]}}', plan({ json: '$.h', with: 'hash' })).text, `{"h":${JSON.stringify(h['h'])}}`);
    assert.deepEqual(r.paths, ['$.card', '$.n', '$.h', '$.gone', '$.flag']);
    // The root itself.
    assert.equal(json('[1,2]', plan({ json: '$', with: 'null' })).text, 'null');
  });

  it('when rules overlap, the stronger function wins; a replaced value is not looked into', () => {
    assert.equal(json('{"a":{"ssn":"123-45-6789"}}', plan({ json: '$..ssn', with: 'partial' }, { json: '$.a.ssn', with: 'null' })).text, '{"a":{"ssn":null}}');
    const r = json('{"a":{"b":{"email":"jane@example.com"}}}', plan({ json: '$.a', with: 'redact' }, { json: '$..email', with: 'partial' }, { detector: 'email', with: 'partial' }));
    assert.equal(r.text, '{"a":"****"}');
    assert.deepEqual(r.paths, ['$.a']);
    assert.equal(r.hits, 0);
    // Under partial, the inside is masked first: its last characters cannot show an ssn.
    assert.equal(json('{"a":{"ssn":"123-45-6789"}}', plan({ json: '$.a', with: 'partial' }, { json: '$..ssn', with: 'redact' })).text, '{"a":"******\\"}"}');
  });

  it('runs detectors on string values no path matched, never on member names', () => {
    const p = plan({ json: '$.customers[*].email', with: 'redact' }, { detector: 'email', with: 'partial' }, { detector: 'payment_card', with: 'partial' });
    const r = json('{"customers":[{"email":"jane@example.com","note":"write to bob@example.org, card 4242 4242 4242 4242"}],"jane@example.com":"x","list":["a","c@example.net"]}', p);
    assert.equal(r.text, '{"customers":[{"email":"****","note":"write to b***@example.org, card **** **** **** 4242"}],"jane@example.com":"x","list":["a","***@example.net"]}');
    assert.equal(r.hits, 2);
    assert.deepEqual(r.paths, ['$.customers[0].email']);
  });

  it('matches escaped member names and masks escaped strings', () => {
    const p = plan({ json: "$['e\"mail']", with: 'redact' }, { detector: 'email', with: 'redact' });
    assert.equal(json('{"e\\"mail":"x","e\\u0022mail":"y","note":"line\\nbob@example.org \\u00e9"}', p).text, '{"e\\"mail":"****","e\\u0022mail":"****","note":"line\\n**** é"}');
  });

  it('keeps numbers, whitespace and key order exactly', () => {
    const doc = '{ "id" : 18446744073709551616,\n  "big": -123456789012345678901234567890e-5, "f": 0.1000000000000000055511151231257827,\n  "z": 1, "a": {"email": "jane@example.com"}, "ids": [9007199254740993, 1E400] }';
    const r = json(doc, plan({ json: '$..email', with: 'redact' }));
    assert.equal(r.text, doc.replace('"jane@example.com"', '"****"'));
  });

  it('returns the very same Buffer when nothing changes', () => {
    const body = Buffer.from('{"customers":[{"id":1,"name":"Jane"}],"n":18446744073709551616}');
    const r = maskJson(body, plan({ json: '$..email', with: 'redact' }, { detector: 'email', with: 'redact' }));
    assert.equal(r.body, body);
    assert.equal(r.changed, false);
    assert.equal(maskJson(body, plan()).body, body);
    assert.equal(needsMasking(plan({ column: 'a.b.c', with: 'redact' })), false);
    assert.equal(needsMasking(plan({ detector: 'email', with: 'redact' })), true);
  });

  it('treats invalid JSON as text: detectors only', () => {
    const p = plan({ json: '$..email', with: 'null' }, { detector: 'email', with: 'redact' });
    for (const bad of ['{"email": "jane@example.com",}', '{"email": "jane@example.com"', 'email=jane@example.com', '{"a":1} {"b":2} jane@example.com', '{"a":01, "m": "jane@example.com"}', '"a\tb jane@example.com"']) {
      const r = json(bad, p);
      assert.equal(r.asText, true, bad);
      assert.equal(r.text, bad.replace('jane@example.com', '****'), bad);
    }
    const empty = maskJson(Buffer.alloc(0), p);
    assert.equal(empty.changed, false);
  });

  it('handles deep nesting without recursion, and descents stay fast', () => {
    const depth = 50000;
    const doc = '{"a":'.repeat(depth) + '{"b":{"c":"x"}}' + '}'.repeat(depth);
    const started = performance.now();
    const r = json(doc, plan({ json: '$..a..b..c', with: 'redact' }));
    assert.ok(r.text.endsWith('{"b":{"c":"****"}}' + '}'.repeat(depth)));
    assert.equal(r.paths.length, 1);
    assert.ok(performance.now() - started < 3000, 'took too long');
    assert.equal(json('['.repeat(depth) + ']'.repeat(depth), plan({ json: '$..x', with: 'redact' })).asText, false);
  });

  it('caps the listed paths at 100', () => {
    const doc = JSON.stringify({ rows: Array.from({ length: 250 }, (_, i) => ({ ssn: String(i) })) });
    const r = json(doc, plan({ json: '$.rows[*].ssn', with: 'redact' }));
    assert.equal(r.paths.length, 100);
    assert.equal((JSON.parse(r.text) as { rows: Array<{ ssn: string }> }).rows[249]?.ssn, '****');
  });
});

describe('maskText and bodyKind', () => {
  it('masks detector findings line by line', () => {
    const p = plan({ detector: 'email', with: 'redact' }, { detector: 'private_key', with: 'partial' });
    const body = Buffer.from(`hello jane@example.com\r\n${PEM.join('\n')}\nbye\n`);
    const r = maskText(body, p);
    assert.equal(r.body.toString(), `hello ****\r\n${PEM[0]}\n****\n${PEM[3]}\nbye\n`);
    const same = Buffer.from('nothing here\n');
    assert.equal(maskText(same, p).body, same);
  });

  it('picks a masker by content type', () => {
    const kinds: Array<[string | undefined, string]> = [
      ['application/json', 'json'], ['application/json; charset=utf-8', 'json'], ['Application/Problem+JSON', 'json'], ['text/json', 'json'],
      ['application/x-ndjson', 'ndjson'], ['application/jsonl', 'ndjson'], ['application/json-seq', 'ndjson'],
      ['text/event-stream', 'sse'], ['text/event-stream;charset=utf-8', 'sse'],
      ['text/plain', 'text'], ['text/html; charset=utf-8', 'text'], ['application/xml', 'text'], ['application/atom+xml', 'text'], ['application/x-www-form-urlencoded', 'text'], [undefined, 'text'], ['', 'text'],
      ['image/png', 'binary'], ['application/octet-stream', 'binary'], ['application/pdf', 'binary'], ['multipart/form-data; boundary=x', 'binary'],
    ];
    for (const [type, kind] of kinds) assert.equal(bodyKind(type), kind, String(type));
  });
});

describe('ndjsonMasker', () => {
  const p = plan({ json: '$.email', with: 'partial' }, { detector: 'payment_card', with: 'partial' });
  const input = '{"email":"jane@example.com","id":18446744073709551616}\n\n{"note":"card 4242 4242 4242 4242"}\r\nnot json 4242424242424242\n{"email":"bob@example.org"}';
  const expected = '{"email":"j***@example.com","id":18446744073709551616}\n\n{"note":"card **** **** **** 4242"}\r\nnot json ************4242\n{"email":"b***@example.org"}';

  it('gives the same output whatever the chunking', () => {
    assertSplitInvariant(() => ndjsonMasker(p, 1024), input, expected);
  });

  it('counts what it changed', () => {
    const m = ndjsonMasker(p, 1024);
    m.push(Buffer.from(input));
    m.end();
    assert.deepEqual(m.stats, { changed: 4, maskedPaths: ['$.email', '$.email'], detectorHits: 2 });
  });

  it('withholds a line longer than maxLine, whatever the chunking', () => {
    const long = `{"email":"${'x'.repeat(60)}@example.com"}`;
    const withheld = JSON.stringify(WITHHELD_LINE);
    assertSplitInvariant(() => ndjsonMasker(p, 40), `{"email":"jane@example.com"}\n${long}\r\n{"a":1}\n${long}`, `{"email":"j***@example.com"}\n${withheld}\r\n{"a":1}\n${withheld}`);
    // Exactly maxLine bytes (line ending not counted) still fits.
    const fits = `{"a":"${'y'.repeat(32)}"}`;
    assert.equal(fits.length, 40);
    assertSplitInvariant(() => ndjsonMasker(p, 40), `${fits}\r\n${fits}\n`, `${fits}\r\n${fits}\n`);
  });

  it('passes unchanged lines through untouched', () => {
    const m = ndjsonMasker(p, 1024);
    const chunk = Buffer.from('{"a":1}\n{"b":[1,2]}\n');
    assert.deepEqual(Buffer.concat(m.push(chunk)), chunk);
    assert.deepEqual(m.end(), []);
    assert.equal(m.stats.changed, 0);
  });
});

describe('sseMasker', () => {
  const p = plan({ json: '$..email', with: 'redact' }, { detector: 'email', with: 'partial' });

  it('masks JSON and text data, passes other fields, keeps line endings, whatever the chunking', () => {
    const input = [
      ': a comment with jane@example.com\r\n',
      'event: update\r\nid: 7\r\ndata: {"user": {"email": "jane@example.com", "n": 18446744073709551617}}\r\n\r\n',
      'data: hello bob@example.org\ndata:and c@example.net too\nretry: 1000\n\n',
      'data: {"multi":\r\ndata: "line", "email": "x@example.com"}\r\n\r\n',
      'data\rdata: plain\r\r',
      'event: no-data\n\n',
      'data: trailing d@example.com',
    ].join('');
    const expected = [
      ': a comment with jane@example.com\r\n',
      'event: update\r\nid: 7\r\ndata: {"user": {"email": "****", "n": 18446744073709551617}}\r\n\r\n',
      'data: hello b***@example.org\ndata:and ***@example.net too\nretry: 1000\n\n',
      'data: {"multi":\r\ndata: "line", "email": "****"}\r\n\r\n',
      'data\rdata: plain\r\r',
      'event: no-data\n\n',
      'data: trailing ***@example.com',
    ].join('');
    assertSplitInvariant(() => sseMasker(p, 4096), input, expected);
  });

  it('withholds the data of an event larger than maxEvent; other fields pass', () => {
    const marker = `data: ${JSON.stringify(WITHHELD_EVENT)}`;
    const big = `data: {"email": "${'a'.repeat(80)}@example.com"}`;
    const input = `id: 1\r\n${big}\r\ndata: more\r\nevent: x\r\n\r\ndata: {"email":"jane@example.com"}\r\n\r\nid: 2\n: c\ndata: ${'b'.repeat(30)}\ndata: ${'c'.repeat(30)}\nid: 3\n\n`;
    const expected = `id: 1\r\n${marker}\r\nevent: x\r\n\r\ndata: {"email":"****"}\r\n\r\nid: 2\n: c\n${marker}\nid: 3\n\n`;
    assertSplitInvariant(() => sseMasker(p, 60), input, expected);
  });
});
