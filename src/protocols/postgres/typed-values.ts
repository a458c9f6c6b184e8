// Text-format values as typed JSON for an executor's caller: the built-in types by OID (they
// are fixed in every PostgreSQL since 8.x), numbers as numbers when JSON keeps them exact,
// JSON parsed, everything else as the server wrote it.
import type { SqlValue } from '../../pipeline/executor.ts';

const NAMES: ReadonlyMap<number, string> = new Map([
  [16, 'bool'], [17, 'bytea'], [18, 'char'], [19, 'name'], [20, 'int8'], [21, 'int2'], [23, 'int4'], [24, 'regproc'],
  [25, 'text'], [26, 'oid'], [114, 'json'], [142, 'xml'], [600, 'point'], [650, 'cidr'], [700, 'float4'], [701, 'float8'],
  [790, 'money'], [829, 'macaddr'], [869, 'inet'], [1000, '_bool'], [1005, '_int2'], [1007, '_int4'], [1009, '_text'],
  [1014, '_bpchar'], [1015, '_varchar'], [1016, '_int8'], [1021, '_float4'], [1022, '_float8'], [1042, 'bpchar'],
  [1043, 'varchar'], [1082, 'date'], [1083, 'time'], [1114, 'timestamp'], [1115, '_timestamp'], [1182, '_date'],
  [1184, 'timestamptz'], [1185, '_timestamptz'], [1186, 'interval'], [1231, '_numeric'], [1266, 'timetz'], [1560, 'bit'],
  [1562, 'varbit'], [1700, 'numeric'], [2205, 'regclass'], [2206, 'regtype'], [2249, 'record'], [2278, 'void'],
  [2950, 'uuid'], [2951, '_uuid'], [3220, 'pg_lsn'], [3614, 'tsvector'], [3615, 'tsquery'], [3802, 'jsonb'],
  [3807, '_jsonb'], [3904, 'int4range'], [3906, 'numrange'], [3908, 'tsrange'], [3910, 'tstzrange'], [3912, 'daterange'],
  [3926, 'int8range'], [4089, 'regnamespace'], [4096, 'regrole'], [199, '_json'],
]);

/** The type's name, or `oid <n>` for a type of the database's own (an enum, a domain, an extension's). */
export function typeName(oid: number): string {
  return NAMES.get(oid) ?? `oid ${oid}`;
}

/** One text-format value, typed where JSON can carry it exactly. */
export function typedValue(oid: number, text: string | null): SqlValue {
  if (text === null) return null;
  switch (oid) {
    case 16:
      return text === 't' ? true : text === 'f' ? false : text;
    case 21:
    case 23:
    case 26:
    case 700:
    case 701: {
      // NaN and Infinity have no JSON number: they stay text.
      const n = Number(text);
      return Number.isFinite(n) && text.trim() !== '' ? n : text;
    }
    case 114:
    case 3802:
      try {
        return JSON.parse(text) as SqlValue;
      } catch {
        // A masked JSON value need not be JSON any more.
        return text;
      }
    default:
      // int8 and numeric stay text: a JSON number would round them.
      return text;
  }
}
