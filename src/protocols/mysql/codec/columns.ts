// Column definitions (ColumnDefinition41): where a result column comes from. org_table and
// org_name are masking's safety net, as RowDescription's table OIDs are for PostgreSQL.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_column_definition.html
import { PayloadReader } from './wire.ts';

export interface ColumnDefinition {
  readonly schema: string;
  readonly table: string;
  readonly orgTable: string;
  readonly name: string;
  readonly orgName: string;
  readonly charset: number;
  readonly length: number;
  readonly type: number;
  readonly flags: number;
  readonly decimals: number;
}

export function decodeColumnDefinition(payload: Buffer): ColumnDefinition {
  const r = new PayloadReader(payload);
  r.lenencBytes(); // catalog, always "def"
  const schema = r.lenencString();
  const table = r.lenencString();
  const orgTable = r.lenencString();
  const name = r.lenencString();
  const orgName = r.lenencString();
  r.lenencInt(); // length of the fixed fields (0x0c)
  const charset = r.u16();
  const length = r.u32();
  const type = r.u8();
  const flags = r.u16();
  const decimals = r.u8();
  return { schema, table, orgTable, name, orgName, charset, length, type, flags, decimals };
}
