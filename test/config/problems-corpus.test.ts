// A corpus of broken configurations: each problem names the field at fault and what it allows
// (issue: a wrong key under an HTTP connection's upstream.auth read as the connection's type).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/load.ts';

function problemsOf(yaml: string): string[] {
  try {
    parseConfig(yaml);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

const http = (upstream: string): string => `connections:\n  - name: api\n    type: http\n    upstream: ${upstream}\n`;
const pg = (extra: string): string => `connections:\n  - { name: db, type: postgres, upstream: { host: 127.0.0.1, port: 5432, database: app, user: app${extra} } }\n`;

/** [what is broken, the YAML, the exact problems expected] */
const CORPUS: readonly (readonly [string, string, readonly string[]])[] = [
  ['an unknown auth type of an HTTP upstream', http('{ url: "https://x.example", auth: { type: beaer, token: t } }'), ['connections[0].upstream.auth.type: expected bearer | basic | header | query | oauth2']],
  ['a missing auth type', http('{ url: "https://x.example", auth: { token: t } }'), ['connections[0].upstream.auth.type: expected bearer | basic | header | query | oauth2 (missing)']],
  ['a misspelt key under auth', http('{ url: "https://x.example", auth: { type: bearer, tokne: t } }'), ['connections[0].upstream.auth: unknown key tokne (allowed here: type, token)']],
  ['a key of another auth type', http('{ url: "https://x.example", auth: { type: header, token: t, header: X-Key } }'), ['connections[0].upstream.auth: unknown key token (allowed here: type, header, value)']],
  ['a missing field of an auth type', http('{ url: "https://x.example", auth: { type: basic } }'), ['connections[0].upstream.auth.username: expected string (missing)']],
  ['an unknown connection type', 'connections:\n  - { name: x, type: htp, upstream: { url: "https://x.example" } }\n', ['connections[0].type: expected postgres | mysql | ssh | http']],
  ['a missing connection type', 'connections:\n  - { name: x, upstream: { url: "https://x.example" } }\n', ['connections[0].type: expected postgres | mysql | ssh | http (missing)']],
  ['a misspelt key of an HTTP upstream', http('{ url: "https://x.example", cert: ca.pem }'), ['connections[0].upstream: unknown key cert (allowed here: url, ca, auth)']],
  ['a postgres upstream key that does not exist', pg(', sslmode: require'), ['connections[0].upstream: unknown key sslmode']],
  ['a misspelt top-level section', 'connectons: []\n', [': unknown key connectons (allowed here: listen, store']],
  ['a value of the wrong type', 'listen: { api: 8700 }\n', ['listen.api: expected string, got number']],
  ['a list where a map belongs', 'vault: [a, b]\n', ['vault: expected object, got a list']],
  ['a misspelt listen key', 'listen: { postgress: "127.0.0.1:5432" }\n', ['listen: unknown key postgress']],
];

void describe('configuration problems name the field and what it allows', () => {
  for (const [what, yaml, expected] of CORPUS) {
    void it(what, () => {
      const got = problemsOf(yaml);
      for (const e of expected) assert.ok(got.some((g) => g === e || g.startsWith(`${e} (allowed here:`) || g.startsWith(e)), `expected "${e}" among:\n  ${got.join('\n  ')}`);
      // No problem of a nested field is ever reported as the connection's own type.
      if (!what.includes('connection type')) assert.ok(!got.some((g) => g.includes('postgres | mysql | ssh | http')), got.join('\n'));
    });
  }
});
