// The startup packet's `options` and parameters read as PostgreSQL reads them (no socket).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isGatewayError } from '../../../src/core/errors.ts';
import { parseOptions, splitOptions } from '../../../src/protocols/postgres/startup-options.ts';
import { startupSettings, unsafeEncoding } from '../../../src/protocols/postgres/startup.ts';
import { setStatement } from '../../../src/protocols/postgres/startup-decide.ts';

it('splits options at unescaped white space; a backslash takes the next character', () => {
  assert.deepEqual(splitOptions('  -c a=1\t--b=x\\ y  -c c=back\\\\slash '), ['-c', 'a=1', '--b=x y', '-c', 'c=back\\slash']);
  assert.deepEqual(splitOptions(''), []);
});

it('reads -c name=value, -cname=value and --name=value, with - in names as _', () => {
  assert.deepEqual(parseOptions('-c Search_Path=a,b -cwork_mem=64MB --statement-timeout=5s --app.x='), [
    { name: 'search_path', value: 'a,b' },
    { name: 'work_mem', value: '64MB' },
    { name: 'statement_timeout', value: '5s' },
    { name: 'app.x', value: '' },
  ]);
  assert.deepEqual(parseOptions('-c a=1 --'), [{ name: 'a', value: '1' }]);
});

it('refuses what PostgreSQL refuses, in its words', () => {
  assert.throws(() => parseOptions('-c foo'), /^OptionsSyntaxError: -c foo requires a value$/);
  assert.throws(() => parseOptions('--foo'), /--foo requires a value/);
  assert.throws(() => parseOptions('-c'), /invalid command-line argument for server process: -c/);
  assert.throws(() => parseOptions('-c a=1 -- b'), /invalid command-line argument for server process: b/);
  assert.throws(() => parseOptions('stray'), /invalid command-line argument for server process: stray/);
  assert.throws(() => parseOptions('-S 1024'), /switch -S is not accepted/);
});

it('merges options and packet fields (the fields win) and leaves out the gateway\'s own', () => {
  const settings = startupSettings(new Map([['user', 'agent'], ['database', 'app-db'], ['options', '-c statement_timeout=1 -c application_name=a'], ['Application_Name', 'b'], ['_pq_.x', '1'], ['replication', 'false']]));
  assert.deepEqual([...settings], [['statement_timeout', '1'], ['application_name', 'b']]);
  // An encoding set through options is checked like one in the packet.
  assert.equal(unsafeEncoding(startupSettings(new Map([['options', '-c client_encoding=SJIS']]))), 'SJIS');
});

it('refuses replication, bad syntax, packet fields and bad names with their codes', () => {
  const code = (params: [string, string][]): string => {
    try {
      startupSettings(new Map(params));
    } catch (err) {
      return isGatewayError(err) ? err.code : String(err);
    }
    return 'none';
  };
  assert.equal(code([['replication', 'database']]), 'PCS_PG_REPLICATION_REFUSED');
  assert.equal(code([['options', '-c x']]), 'PCS_PG_STARTUP_OPTIONS_INVALID');
  assert.equal(code([['options', '-c database=other']]), 'PCS_PG_STARTUP_PARAM_REFUSED');
  assert.equal(code([['options', '-c a;b=1']]), 'PCS_PG_STARTUP_PARAM_REFUSED');
  assert.equal(code([['bad name', '1']]), 'PCS_PG_STARTUP_PARAM_REFUSED');
});

it('writes the equivalent SET with the name quoted and the value a literal', () => {
  assert.equal(setStatement('app.tenant_id', "it's"), `SET "app"."tenant_id" = 'it''s'`);
});
