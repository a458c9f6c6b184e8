// Finding method overrides in forms, multipart and JSON bodies, and cutting them out with
// every other byte left as it was.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formOverrides, headerOverrides, jsonMembers, jsonOverrides, multipartOverrides, multipartParts, OverrideNames, withoutFormOverrides, withoutJsonOverrides, withoutMultipartOverrides } from '../../../src/protocols/http/overrides.ts';

const names = new OverrideNames(['_method'], ['x-http-method-override', 'x-http-method', 'x-method-override']);

describe('method overrides', () => {
  it('finds header overrides in any case, with _ for -', () => {
    assert.deepEqual(headerOverrides({ 'x-http-method-override': 'DELETE', x_method_override: 'PUT', 'x-other': 'a' }, names.headers), [
      { header: 'x-http-method-override', value: 'DELETE' },
      { header: 'x_method_override', value: 'PUT' },
    ]);
  });

  it('takes the names a connection configures, regex characters as plain text', () => {
    const custom = new OverrideNames(['$verb', 'a.b'], ['X-Verb', 'x_tunnel']);
    assert.deepEqual(formOverrides('$verb=PUT&aXb=1&a.b[]=GET&_method=DELETE', 'query parameter', custom).map((o) => o.where), ['query parameter $verb', 'query parameter a.b[]']);
    assert.deepEqual(headerOverrides({ 'x-verb': 'PUT', 'x-tunnel': 'GET', 'x-http-method-override': 'DELETE' }, custom.headers).map((h) => h.header), ['x-verb', 'x-tunnel']);
    const none = new OverrideNames([], []);
    assert.deepEqual(formOverrides('=x&_method=DELETE', 'query parameter', none), []);
    assert.equal(none.isParam(''), false);
  });

  it('finds _method in form text however it is spelled, and cuts only its pairs', () => {
    assert.deepEqual(formOverrides('a=1&_method=delete&%5Fmethod=PUT&_METHOD[x]=P&+_method=Q&b=_method', 'form field', names).map((o) => o.value), ['delete', 'PUT', 'P', 'Q']);
    assert.equal(withoutFormOverrides('a=1&_method=delete&b=%2F+x&_method&c', names), 'a=1&b=%2F+x&c');
    const hidden = formOverrides('a=1;_method=DELETE', 'query parameter', names);
    assert.equal(hidden.length, 1);
    assert.equal(hidden[0]?.strippable, false);
  });

  it('reads multipart parts and cuts the _method part alone', () => {
    const body = ['preamble', '--XyZ', 'Content-Disposition: form-data; name="title"', '', 'a', '--XyZ', "Content-Disposition: form-data; name*=utf-8''_method", '', 'DELETE', '--XyZ', 'Content-Disposition: form-data; name="file"; filename="f.bin"', 'Content-Type: application/octet-stream', '', '\u00ff\u0000--Xy', '--XyZ--', ''].join('\r\n');
    const parts = multipartParts(body, 'multipart/form-data; boundary="XyZ"');
    assert.deepEqual(parts?.map((p) => p.name), ['title', '_method', 'file']);
    assert.deepEqual(multipartOverrides(parts ?? [], names).map((o) => o.value), ['DELETE']);
    const cut = withoutMultipartOverrides(body, parts ?? [], names);
    assert.equal(cut, body.replace("--XyZ\r\nContent-Disposition: form-data; name*=utf-8''_method\r\n\r\nDELETE\r\n", ''));
    assert.equal(multipartParts('--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end', 'multipart/form-data; boundary=XyZ'), undefined);
    assert.equal(multipartParts('x', 'multipart/form-data'), undefined);
  });

  it('finds top-level _method members of JSON and cuts them, first, middle, last or all', () => {
    const cases: [string, string][] = [
      ['{"_method":"DELETE","a":1}', '{"a":1}'],
      ['{"a":1, "_method":"DELETE", "b":[1,{"_method":"x"}]}', '{"a":1, "b":[1,{"_method":"x"}]}'],
      ['{ "a" : "}\\"," ,"_method":"DELETE" }', '{ "a" : "}\\"," }'],
      ['{"a":1,"_method":"A","_method":"B"}', '{"a":1}'],
      ['{"_method":"A"}', '{}'],
      ['\n{"_method":"A","b":2}\n', '\n{"b":2}\n'],
    ];
    for (const [text, cut] of cases) {
      const members = jsonMembers(text);
      assert.ok(members, text);
      assert.ok(jsonOverrides(text, members, names).length > 0, text);
      assert.equal(withoutJsonOverrides(text, members, names), cut, text);
      assert.doesNotThrow(() => JSON.parse(cut));
    }
    assert.equal(jsonMembers('[{"_method":"A"}]'), undefined);
    assert.deepEqual(jsonOverrides('{"_method":{"x":1}}', jsonMembers('{"_method":{"x":1}}') ?? [], names).map((o) => o.value), ['{"x":1}']);
  });
});
