// Row masking of the MySQL adapter: which columns the column definitions' origins mask
// (schemaless view columns included), text rows rewritten as length-encoded strings, binary
// rows kept valid for their column types (strings stay strings, numbers and dates go NULL).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MaskPlanner } from '../../../../src/masking/plan.ts';
import type { MaskRule } from '../../../../src/masking/types.ts';
import type { ColumnDefinition } from '../../../../src/protocols/mysql/codec/columns.ts';
import { ColumnType } from '../../../../src/protocols/mysql/codec/constants.ts';
import { PayloadWriter } from '../../../../src/protocols/mysql/codec/wire.ts';
import { columnMasks, RowMasker, type MaskContext } from '../../../../src/protocols/mysql/masking/result.ts';

const rules: MaskRule[] = [
  { column: 'app.people.email', with: 'redact' },
  { column: 'app.people.pin', with: 'hash' },
  { column: 'mysql.user.authentication_string', with: 'redact' },
];
const plan = new MaskPlanner(Buffer.alloc(32, 7)).plan(rules);
/** A statement whose lineage masks nothing and leaves untraced output clear: only origins decide. */
const ctx: MaskContext = { plan, stmt: { plan, results: [], failClosed: undefined, refusal: undefined, sensitive: false, notes: [], inert: true } };

function col(schema: string, orgTable: string, orgName: string, type: number): ColumnDefinition {
  return { schema, table: orgTable, orgTable, name: orgName, orgName, charset: 45, length: 64, type, flags: 0, decimals: 0 };
}

const people = [col('app', 'people', 'id', ColumnType.LONG), col('app', 'people', 'email', ColumnType.VAR_STRING), col('app', 'people', 'pin', ColumnType.LONG)];

describe('MySQL row masking', () => {
  it('masks by the column definitions\' origins, a schemaless view column included', () => {
    assert.deepEqual(columnMasks(ctx, people, 0, 'app').map((m) => m?.rule.with), [undefined, 'redact', 'hash']);
    const view = [col('mysql', 'user', 'User', ColumnType.STRING), col('', 'user', 'authentication_string', ColumnType.BLOB)];
    assert.deepEqual(columnMasks(ctx, view, 0, 'app').map((m) => m?.rule.with), [undefined, 'redact']);
  });

  it('rewrites text rows, keeps NULLs and leaves clear rows as they are', () => {
    const masker = new RowMasker(ctx, people, columnMasks(ctx, people, 0, 'app'), false);
    const row = new PayloadWriter().lenencString('1').lenencString('ann@example.com').u8(0xfb).finish();
    const out = masker.textRow(row);
    assert.ok(!out.includes(Buffer.from('ann@example.com')));
    assert.equal(out.subarray(0, 2).toString('latin1'), '\x011');
    assert.equal(out[out.length - 1], 0xfb, 'NULL stays NULL');
    const clear = new RowMasker(ctx, [people[0]!], [undefined], false);
    assert.ok(clear.idle);
    assert.equal(masker.rowsChanged, 1);
  });

  it('keeps binary rows valid: a masked string stays a string, a masked INT becomes NULL', () => {
    const masker = new RowMasker(ctx, people, columnMasks(ctx, people, 0, 'app'), true);
    // 0x00, NULL bitmap of (3 + 2 + 7) / 8 = 1 byte, id INT 7, email, pin INT 4242.
    const int = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeInt32LE(n);
      return b;
    };
    const row = Buffer.concat([Buffer.from([0x00, 0x00]), int(7), new PayloadWriter().lenencString('ann@example.com').finish(), int(4242)]);
    const out = masker.binaryRow(row);
    assert.equal(out[1], 1 << 4, 'pin (column 2, bit 4) is NULL');
    assert.equal(out.readInt32LE(2), 7, 'id is untouched');
    const emailLen = out[6]!;
    assert.ok(emailLen > 0 && !out.includes(Buffer.from('ann@example.com')));
    assert.equal(out.length, 2 + 4 + 1 + emailLen, 'nothing after the email: the NULL pin has no value');
  });
});
