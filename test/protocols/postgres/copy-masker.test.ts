// COPY TO STDOUT masking on real PostgreSQL output: the bytes psql receives for each format
// are masked, split at every offset, and loaded back with COPY FROM STDIN to check that the
// masked columns read back masked and every other value unchanged.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import { loadSqlAnalyzer } from '../../../src/sql/postgres/analyze.ts';
import { copyOutputFormat, type CopyFormat } from '../../../src/sql/postgres/copy-format.ts';
import { createCopyMasker, type ValueMasker } from '../../../src/protocols/postgres/masking/copy-masker.ts';

const PSQL_ARGS = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', '-d', 'postgres', '-X', '-q', '-v', 'ON_ERROR_STOP=1'];
const PSQL_ENV = { ...process.env, PGCLIENTENCODING: 'UTF8' };

/** Runs psql with one -c per statement (one session: temp tables live across them); stdout as bytes. */
function psql(statements: readonly string[], input?: Buffer, extra: readonly string[] = []): Buffer {
  return execFileSync('psql', [...PSQL_ARGS, ...extra, ...statements.flatMap((s) => ['-c', s])], {
    input: input ?? Buffer.alloc(0), env: PSQL_ENV, maxBuffer: 64 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'],
  });
}

type Value = string | null;
/** A row: n (int, never masked) then three text columns. */
type Row = readonly [number, Value, Value, Value];

const ROWS: readonly Row[] = [
  [1, 'plain', 'secret-1', 'x'],
  [2, 'tab\there', 'new\nline', 'back\\slash'],
  [3, 'comma, semi; pipe| bar', 'double " quote', 'single \' quote'],
  [4, 'cr\r\nlf', '\\N', '\\.'],
  [5, null, '', null],
  [6, '', null, ''],
  [7, 'é😀', 'naïve 日本語 ✓', '<nil>-not'],
  [8, 'NULL', '\b\f\v\x01 ctl', '"quoted,field"'],
  [9, '\\', '""', 'end\\'],
];

/** A SQL literal for any text: hex-decoded UTF-8, so no quoting rule is exercised twice. */
function literal(v: Value): string {
  return v === null ? 'NULL::text' : `convert_from(decode('${Buffer.from(v, 'utf8').toString('hex')}', 'hex'), 'UTF8')`;
}

const SOURCE = `SELECT n, a, b, c FROM (VALUES ${ROWS.map((r) => `(${r[0]}, ${literal(r[1])}, ${literal(r[2])}, ${literal(r[3])})`).join(', ')}) AS v(n, a, b, c) ORDER BY n`;

function copyOut(options: string): Buffer {
  return psql([`COPY (${SOURCE}) TO STDOUT ${options}`]);
}

/** Loads COPY data into a temp table like the source and reads it back as rows. */
function copyIn(data: Buffer, options: string): Row[] {
  const out = psql([
    'CREATE TEMP TABLE back (n int, a text, b text, c text)',
    `COPY back FROM STDIN ${options}`,
    "SELECT coalesce(json_agg(json_build_array(n, a, b, c) ORDER BY n), '[]') FROM back",
  ], data, ['-A', '-t']);
  return JSON.parse(out.toString('utf8')) as Row[];
}

// Maskers. Outputs hold every byte some format must escape or quote.
const str = (s: string): Buffer => Buffer.from(s, 'utf8');
const tricky: ValueMasker = (v) => str(`m\t,;|"'\\\n\r\\N é${v.length}`);
const stars: ValueMasker = (v) => str('*'.repeat(v.length));
const nuller: ValueMasker = () => null;
const short: ValueMasker = () => str('x');
const long: ValueMasker = (v) => Buffer.concat([v, v, str('+')]);
const empty: ValueMasker = () => Buffer.alloc(0);
const identity: ValueMasker = (v) => Buffer.from(v);

/** Maskers for columns n, a, b, c. */
type MaskSet = readonly (ValueMasker | undefined)[];
const MASK_SETS: Readonly<Record<string, MaskSet>> = {
  'escaping, same length, null': [undefined, tricky, stars, nuller],
  'shrinking, growing, empty': [undefined, short, long, empty],
};

function expected(maskers: MaskSet): Row[] {
  return ROWS.map((row) => row.map((v, i) => {
    const m = maskers[i];
    if (i === 0 || m === undefined || v === null) return v;
    return m(str(v as string))?.toString('utf8') ?? null;
  }) as unknown as Row);
}

/** Rows in which some masker changes a non-NULL value. */
function changedRows(maskers: MaskSet, rows: readonly Row[] = ROWS): number {
  return rows.filter((row) => row.some((v, i) => {
    const m = maskers[i];
    if (i === 0 || m === undefined || v === null) return false;
    const out = m(str(v as string));
    return out === null || out.toString('utf8') !== v;
  })).length;
}

/** Masks data pushed in the given pieces: the concatenated output and the masked row count. */
function maskPieces(format: CopyFormat, maskers: MaskSet, pieces: readonly Buffer[]): { out: Buffer; rows: number } {
  const m = createCopyMasker(format, maskers);
  const out: Buffer[] = [];
  for (const p of pieces) {
    const sent = m.push(p);
    // Whatever completes in one push goes out as one payload.
    assert.ok(sent.length <= 1);
    out.push(...sent);
  }
  out.push(...m.end());
  return { out: Buffer.concat(out), rows: m.maskedRows };
}

function mask(format: CopyFormat, maskers: MaskSet, data: Buffer): { out: Buffer; rows: number } {
  return maskPieces(format, maskers, [data]);
}

function bytewise(data: Buffer): Buffer[] {
  return Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
}

function format(sql: string): CopyFormat {
  const f = copyOutputFormat(sql);
  assert.ok(f, `no format for ${sql}`);
  return f;
}

interface Variant {
  readonly name: string;
  /** The options of COPY TO, as written after STDOUT. */
  readonly out: string;
  /** The options that load the same data with COPY FROM. */
  readonly in: string;
}

const VARIANTS: readonly Variant[] = [
  { name: 'text, defaults', out: '', in: '' },
  { name: 'text, DELIMITER | NULL <nil>', out: "WITH (FORMAT text, DELIMITER '|', NULL '<nil>')", in: "WITH (FORMAT text, DELIMITER '|', NULL '<nil>')" },
  { name: 'text, old syntax DELIMITER ,', out: "DELIMITER ','", in: "DELIMITER ','" },
  { name: 'csv, defaults', out: 'WITH (FORMAT csv)', in: 'WITH (FORMAT csv)' },
  { name: 'csv, HEADER (old syntax)', out: 'WITH CSV HEADER', in: 'WITH CSV HEADER' },
  {
    name: "csv, DELIMITER ; QUOTE ' ESCAPE \\ NULL NULL, HEADER",
    out: "WITH (FORMAT csv, DELIMITER ';', QUOTE '''', ESCAPE '\\', NULL 'NULL', HEADER true)",
    in: "WITH (FORMAT csv, DELIMITER ';', QUOTE '''', ESCAPE '\\', NULL 'NULL', HEADER true)",
  },
  { name: 'csv, FORCE_QUOTE *', out: 'WITH (FORMAT csv, FORCE_QUOTE *)', in: 'WITH (FORMAT csv)' },
  { name: 'binary', out: 'WITH (FORMAT binary)', in: 'WITH (FORMAT binary)' },
];

before(() => loadSqlAnalyzer());

describe('copyOutputFormat', () => {
  it('reads the text defaults', () => {
    assert.deepEqual(copyOutputFormat('COPY t TO STDOUT'), { kind: 'text', delimiter: '\t', null: '\\N' });
    assert.deepEqual(copyOutputFormat("COPY t (a, b) TO STDOUT WITH (FORMAT text, NULL 'x', DELIMITER '|');"), { kind: 'text', delimiter: '|', null: 'x' });
    assert.deepEqual(copyOutputFormat("copy t to stdout delimiter ',' null ''"), { kind: 'text', delimiter: ',', null: '' });
  });

  it('reads CSV options, new and old syntax', () => {
    assert.deepEqual(copyOutputFormat("COPY (select 1) TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';')"),
      { kind: 'csv', delimiter: ';', quote: '"', escape: '"', null: '', header: true });
    assert.deepEqual(copyOutputFormat('COPY t TO STDOUT WITH CSV HEADER'),
      { kind: 'csv', delimiter: ',', quote: '"', escape: '"', null: '', header: true });
    assert.deepEqual(copyOutputFormat("COPY t TO STDOUT CSV QUOTE '''' ESCAPE '\\' NULL 'NULL' FORCE QUOTE a, b"),
      { kind: 'csv', delimiter: ',', quote: "'", escape: '\\', null: 'NULL', header: false });
    assert.deepEqual(copyOutputFormat("COPY t TO STDOUT (FORMAT csv, FORCE_QUOTE *, ENCODING 'UTF-8', QUOTE '|')"),
      { kind: 'csv', delimiter: ',', quote: '|', escape: '|', null: '', header: false });
  });

  it('reads every spelling of HEADER', () => {
    const header = (arg: string): boolean | undefined => {
      const f = copyOutputFormat(`COPY t TO STDOUT (FORMAT csv, HEADER ${arg})`);
      return f?.kind === 'csv' ? f.header : undefined;
    };
    for (const on of ['', 'true', 'on', 'ON', '1', 'match']) assert.equal(header(on), true, on);
    for (const off of ['false', 'off', '0']) assert.equal(header(off), false, off);
    assert.equal(header('2'), undefined);
    assert.equal(header("'maybe'"), undefined);
  });

  it('reads BINARY, old and new syntax', () => {
    for (const sql of ['COPY t TO STDOUT BINARY', 'COPY t TO STDOUT WITH BINARY', 'COPY BINARY t TO STDOUT', 'COPY t TO STDOUT (FORMAT binary)']) {
      assert.deepEqual(copyOutputFormat(sql), { kind: 'binary' }, sql);
    }
  });

  it('refuses what is not exactly one COPY TO STDOUT', () => {
    for (const sql of [
      'COPY t FROM STDIN',
      "COPY t TO '/tmp/x'",
      "COPY t TO PROGRAM 'cat'",
      'SELECT 1',
      'COPY t TO STDOUT; COPY t TO STDOUT',
      'SELECT 1; COPY t TO STDOUT',
      'COPY t TO STDOUT WITH (',
      '',
    ]) assert.equal(copyOutputFormat(sql), undefined, sql);
  });

  it('refuses options it does not understand or PostgreSQL rejects', () => {
    for (const options of [
      "(frobnicate 'yes')",
      "(FORMAT 'CSV')", // format names are case-sensitive in PostgreSQL
      '(FORMAT json)',
      "(ENCODING 'LATIN1')",
      "(DELIMITER ';;')",
      "(DELIMITER 'é')",
      "(DELIMITER E'\\n')",
      "(DELIMITER 'a')", // a letter would read as an escape in text format
      "(DELIMITER '\\')",
      "(FORMAT csv, QUOTE '')",
      "(FORMAT csv, DELIMITER '\"')",
      "(FORMAT csv, ESCAPE 'ab')",
      "(QUOTE '\"')", // CSV-only
      '(FORMAT binary, HEADER)',
      "(FORMAT binary, NULL 'x')",
      "(NULL 'a\tb')", // holds the delimiter
      "(FORMAT csv, FORCE_NOT_NULL (a))", // COPY FROM only
      "(FORMAT csv, FORMAT csv)",
      '(HEADER)', // a text-format header line: valid, but not what CopyFormat describes
      '(DELIMITER 1)',
    ]) assert.equal(copyOutputFormat(`COPY t TO STDOUT ${options}`), undefined, options);
  });
});

describe('createCopyMasker on real PostgreSQL output', () => {
  for (const v of VARIANTS) {
    describe(v.name, () => {
      let data: Buffer;
      let f: CopyFormat;
      before(() => {
        data = copyOut(v.out);
        f = format(`COPY (SELECT 1) TO STDOUT ${v.out}`);
      });

      it('reads back unchanged when nothing is masked (the source loads as itself)', () => {
        assert.deepEqual(copyIn(data, v.in), ROWS);
        for (const maskers of [[], [undefined, undefined, undefined, undefined], [identity, identity, identity, identity]]) {
          const r = mask(f, maskers, data);
          assert.ok(r.out.equals(data));
          assert.equal(r.rows, 0);
        }
      });

      for (const [setName, maskers] of Object.entries(MASK_SETS)) {
        it(`masks (${setName}) and the output loads back as expected`, () => {
          const r = mask(f, maskers, data);
          assert.deepEqual(copyIn(r.out, v.in), expected(maskers));
          assert.equal(r.rows, changedRows(maskers));
        });

        it(`gives the same bytes however the data is split (${setName})`, () => {
          const whole = mask(f, maskers, data);
          for (let k = 0; k <= data.length; k++) {
            const split = maskPieces(f, maskers, [data.subarray(0, k), data.subarray(k)]);
            assert.ok(split.out.equals(whole.out), `split at ${k}`);
            assert.equal(split.rows, whole.rows);
          }
          const bytes = maskPieces(f, maskers, bytewise(data));
          assert.ok(bytes.out.equals(whole.out), 'one byte at a time');
          assert.equal(bytes.rows, whole.rows);
        });
      }

      it('never calls a masker for NULL, and calls it for an empty string', () => {
        const seen: string[] = [];
        const record: ValueMasker = (value) => {
          seen.push(value.toString('utf8'));
          return value;
        };
        mask(f, [undefined, record, record, record], data);
        const values = ROWS.flatMap((row) => row.slice(1)).filter((x): x is string => x !== null);
        assert.deepEqual(seen, values);
      });

      it('drops a truncated last row at end and sends no partial row', () => {
        const whole = mask(f, [undefined, stars, stars, stars], data);
        // Cut inside the last row (for binary: before the trailer and the last tuple's end).
        const cut = data.subarray(0, data.length - (f.kind === 'binary' ? 4 : 3));
        const m = createCopyMasker(f, [undefined, stars, stars, stars]);
        const out = Buffer.concat([...m.push(cut), ...m.end()]);
        assert.ok(whole.out.subarray(0, out.length).equals(out));
        const back = copyIn(Buffer.concat([out, f.kind === 'binary' ? Buffer.from([0xff, 0xff]) : Buffer.alloc(0)]), v.in);
        assert.deepEqual(back, expected([undefined, stars, stars, stars]).slice(0, ROWS.length - 1));
        assert.equal(m.maskedRows, changedRows([undefined, stars, stars, stars], ROWS.slice(0, -1)));
      });

      it('masks the extra fields of a row wider than expected with the first masker', () => {
        // Two columns expected, four arrive: c and d must not pass just because they are unexpected.
        const r = mask(f, [undefined, stars], data);
        assert.deepEqual(copyIn(r.out, v.in), expected([undefined, stars, stars, stars]));
        // Fewer fields than columns: the ones present are masked, the rest ignored.
        const wide = mask(f, [undefined, undefined, stars, undefined, stars, stars], data);
        assert.deepEqual(copyIn(wide.out, v.in), expected([undefined, undefined, stars, undefined]));
      });
    });
  }
});

describe('text format details', () => {
  const text = { kind: 'text', delimiter: '\t', null: '\\N' } as const;

  it('escapes masked output as PostgreSQL does and keeps other fields byte for byte', () => {
    const data = copyOut('');
    const r = mask(text, [undefined, undefined, undefined, () => str('a\tb\nc\\d\re\b\f\v\x01')], data);
    const first = r.out.subarray(0, r.out.indexOf(0x0a) + 1).toString('utf8');
    assert.equal(first, '1\tplain\tsecret-1\ta\\tb\\nc\\\\d\\re\\b\\f\\v\x01\n');
    // What PostgreSQL itself writes for that value.
    const pg = psql(["COPY (SELECT E'a\\tb\\nc\\\\d\\re\\b\\f\\x0b\\x01') TO STDOUT"]);
    assert.equal(pg.toString('utf8'), 'a\\tb\\nc\\\\d\\re\\b\\f\\v\x01\n');
  });

  it('de-escapes octal, hex and other backslash sequences', () => {
    const seen: string[] = [];
    const m = createCopyMasker(text, [(v) => {
      seen.push(v.toString('latin1'));
      return v;
    }]);
    m.push(str('\\101\\x42\\x4\\xg\\q\\1\\12z\\0\\\\\\N\n\\N\n'));
    assert.deepEqual(seen, ['AB\x04xgq\x01\nz\0\\N']);
  });

  it('keeps a backslash-escaped LF inside the row, even across pushes', () => {
    const seen: string[] = [];
    const m = createCopyMasker(text, [undefined, (v) => {
      seen.push(v.toString('utf8'));
      return str('X');
    }]);
    const out = [...m.push(str('1\ta\\')), ...m.push(str('\nb\n2\tc\n'))];
    assert.deepEqual(seen, ['a\nb', 'c']);
    assert.equal(Buffer.concat(out).toString('utf8'), '1\tX\n2\tX\n');
  });

  it('writes NULL as the configured null string and keeps several rows per push', () => {
    const custom = { kind: 'text', delimiter: '|', null: '<nil>' } as const;
    const m = createCopyMasker(custom, [undefined, nuller, stars]);
    const out = m.push(str('1|a|b\\|c\n2|<nil>|\\\\\n3|x|y'));
    assert.deepEqual(out.map((b) => b.toString('utf8')), ['1|<nil>|***\n2|<nil>|*\n']);
    assert.equal(m.maskedRows, 2);
    assert.deepEqual(m.push(str('z\n')).map((b) => b.toString('utf8')), ['3|<nil>|**\n']);
    assert.deepEqual(m.end(), []);
  });

  it('escapes a masked value equal to the default null marker so it stays a value', () => {
    const m = createCopyMasker(text, [() => str('\\N')]);
    const out = Buffer.concat(m.push(str('x\n')));
    assert.equal(out.toString('utf8'), '\\\\N\n');
    const back = psql(['CREATE TEMP TABLE one (v text)', 'COPY one FROM STDIN', "SELECT coalesce(v, '<null>') FROM one"], out, ['-A', '-t']);
    assert.equal(back.toString('utf8').trim(), '\\N');
  });

  it('returns the payload itself when nothing changed', () => {
    const m = createCopyMasker(text, [undefined, identity]);
    const payload = str('1\ta\n2\tb\n');
    const [out] = m.push(payload);
    assert.equal(out?.buffer, payload.buffer);
    assert.ok(out?.equals(payload));
  });
});

describe('CSV details', () => {
  const csv = { kind: 'csv', delimiter: ',', quote: '"', escape: '"', null: '', header: false } as const;

  it('tells NULL (unquoted empty) from an empty string (quoted)', () => {
    const data = psql(["COPY (SELECT NULL::text, ''::text, 'a'::text) TO STDOUT (FORMAT csv)"]);
    assert.equal(data.toString('utf8'), ',"",a\n');
    const seen: string[] = [];
    const r = mask(csv, [stars, (v) => {
      seen.push(v.toString('utf8'));
      return empty(v);
    }, empty], data);
    assert.deepEqual(seen, ['']);
    // The masked empty string is quoted so that it does not read back as NULL.
    assert.equal(r.out.toString('utf8'), ',"",""\n');
    assert.equal(r.rows, 1);
  });

  it('passes the header through even when it looks like data', () => {
    const data = copyOut('WITH (FORMAT csv, HEADER)');
    const r = mask({ ...csv, header: true }, [stars, stars, stars, stars], data);
    assert.ok(r.out.toString('utf8').startsWith('n,a,b,c\n*,'));
    assert.equal(r.rows, ROWS.length);
  });

  it('reads CRLF records, quoted line breaks and escape-quote sequences', () => {
    const custom = { kind: 'csv', delimiter: ',', quote: '"', escape: '\\', null: '', header: false } as const;
    const seen: string[] = [];
    const m = createCopyMasker(custom, [undefined, (v) => {
      seen.push(v.toString('utf8'));
      return str('q"\\');
    }]);
    const input = '1,"a\\"b\\\\c""\r\nd,"\r\n2,plain\r\n';
    const out = maskPieces(custom, [undefined, stars], bytewise(str(input)));
    assert.equal(out.out.toString('utf8'), '1,*********\r\n2,*****\r\n');
    assert.deepEqual(m.push(str(input)).map((b) => b.toString('utf8')), ['1,"q\\"\\\\"\r\n2,"q\\"\\\\"\r\n']);
    assert.deepEqual(seen, ['a"b\\c\r\nd,', 'plain']);
  });

  it('quotes a masked "\\." so a lone line cannot end the data', () => {
    const r = mask(csv, [() => str('\\.')], str('x\n'));
    assert.equal(r.out.toString('utf8'), '"\\."\n');
    const back = psql(['CREATE TEMP TABLE one (v text)', 'COPY one FROM STDIN (FORMAT csv)', 'SELECT v FROM one'], r.out, ['-A', '-t']);
    assert.equal(back.toString('utf8').trim(), '\\.');
  });
});

describe('binary format details', () => {
  const binary = { kind: 'binary' } as const;

  it('passes the header and trailer through and rewrites lengths', () => {
    const data = psql(["COPY (SELECT 'abc'::text, NULL::text, 42) TO STDOUT (FORMAT binary)"]);
    const r = mask(binary, [long, stars, undefined], data);
    const header = data.subarray(0, 19);
    assert.ok(r.out.subarray(0, 19).equals(header));
    const tuple = r.out.subarray(19, r.out.length - 2);
    assert.equal(tuple.readInt16BE(0), 3);
    assert.equal(tuple.readInt32BE(2), 7);
    assert.equal(tuple.subarray(6, 13).toString('utf8'), 'abcabc+');
    assert.equal(tuple.readInt32BE(13), -1);
    assert.equal(tuple.readInt32BE(17), 4);
    assert.equal(tuple.readInt32BE(21), 42);
    assert.ok(r.out.subarray(r.out.length - 2).equals(Buffer.from([0xff, 0xff])));
    assert.equal(r.rows, 1);
  });

  it('holds back an incomplete header and drops it at end', () => {
    const m = createCopyMasker(binary, [stars]);
    assert.deepEqual(m.push(Buffer.from('PGCOPY\n\xff\r\n\0\0\0', 'latin1')), []);
    assert.deepEqual(m.end(), []);
  });

  it('skips a header extension', () => {
    const header = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 3]), str('ext')]);
    const tuple = Buffer.from([0, 1, 0, 0, 0, 2, 0x68, 0x69, 0xff, 0xff]);
    const r = maskPieces(binary, [stars], bytewise(Buffer.concat([header, tuple])));
    assert.ok(r.out.equals(Buffer.concat([header, Buffer.from([0, 1, 0, 0, 0, 2, 0x2a, 0x2a, 0xff, 0xff])])));
    assert.equal(r.rows, 1);
  });

  it('refuses a stream it cannot follow, and keeps refusing', () => {
    const bad = createCopyMasker(binary, [stars]);
    assert.throws(() => bad.push(Buffer.from('NOTCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1')), /malformed/);
    assert.throws(() => bad.push(Buffer.from([0, 1])), /malformed/);
    const data = psql(["COPY (SELECT 'a'::text) TO STDOUT (FORMAT binary)"]);
    const oids = Buffer.from(data);
    oids.writeUInt32BE(1 << 16, 11);
    assert.throws(() => createCopyMasker(binary, [stars]).push(oids), /malformed/);
    assert.throws(() => createCopyMasker(binary, [stars]).push(Buffer.concat([data, Buffer.from([0])])), /malformed/);
    const negative = Buffer.from(data);
    negative.writeInt32BE(-2, 21);
    assert.throws(() => createCopyMasker(binary, [stars]).push(negative), /malformed/);
  });
});

describe('linear time', () => {
  it('masks a 4 MB value arriving in 1 KB pushes', () => {
    const text = { kind: 'text', delimiter: '\t', null: '\\N' } as const;
    const m = createCopyMasker(text, [undefined, stars]);
    const chunk = Buffer.alloc(1024, 0x61);
    const started = process.hrtime.bigint();
    assert.deepEqual(m.push(str('1\t')), []);
    for (let i = 0; i < 4096; i++) assert.deepEqual(m.push(chunk), []);
    const [out] = m.push(str('\n'));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(out?.length, 2 + 4 * 1024 * 1024 + 1);
    assert.ok(ms < 5000, `took ${ms} ms`);
  });
});
