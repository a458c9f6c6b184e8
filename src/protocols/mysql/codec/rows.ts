// Text-protocol rows: length-encoded strings, 0xfb for NULL.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_row.html
import { PayloadReader } from './wire.ts';

/** The first `n` values of a text row (NULL as null); MalformedPacket when cut short. */
export function readTextRow(payload: Buffer, n: number): (string | null)[] {
  const r = new PayloadReader(payload);
  const out: (string | null)[] = [];
  for (let i = 0; i < n && r.remaining > 0; i++) {
    const len = r.lenenc();
    out.push(len === null ? null : r.bytes(len).toString('utf8'));
  }
  return out;
}
