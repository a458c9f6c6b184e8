// Where one server response ends, read from its packets' first bytes: the relay forwards the
// bytes as they came and only needs to know when the next response begins, how many rows
// went by, how it ended, and (for COM_STMT_PREPARE) the statement id. No socket, no copies.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response.html
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_prepare.html#sect_protocol_com_stmt_prepare_response
import { Header, MAX_PACKET_PAYLOAD, Status } from './constants.ts';
import { decodePrepareOk } from './commands.ts';
import { readEofStatus, readErr, readOkStatus, type ErrPacket } from './responses.ts';
import { MalformedPacket, PayloadReader } from './wire.ts';

/** What a command's answer looks like. */
export type ResponseShape =
  /** COM_QUERY, COM_STMT_EXECUTE: OK, ERR, LOCAL INFILE request, or result sets (several with MORE_RESULTS). */
  | 'result'
  /** COM_STMT_PREPARE: PREPARE_OK, parameter and column definitions. */
  | 'prepare'
  /** COM_STMT_FETCH: rows, then EOF/OK. */
  | 'fetch'
  /** COM_FIELD_LIST: column definitions, then EOF. */
  | 'field-list'
  /** COM_STATISTICS: one string packet. */
  | 'string'
  /** COM_PING, COM_INIT_DB, COM_STMT_RESET, COM_SET_OPTION...: one OK, EOF or ERR packet. */
  | 'single';

const enum State {
  First,
  Columns,
  ColumnsEof,
  Rows,
  PrepareParams,
  PrepareParamsEof,
  PrepareColumns,
  PrepareColumnsEof,
  Done,
}

/** Ends a row stream: 0xfe with a payload shorter than a row starting with an 8-byte length could be. */
function isEnd(payload: Buffer): boolean {
  return payload[0] === Header.EOF && payload.length < MAX_PACKET_PAYLOAD;
}

export class ResponseTracker {
  readonly #shape: ResponseShape;
  readonly #deprecateEof: boolean;
  #state: State;
  #remaining = 0;
  #prepareColumns = 0;
  /** Rows relayed (all result sets). */
  rows = 0;
  /** Affected rows of the OKs. */
  affected = 0;
  /** The server's error, when the response ended with one. */
  error: ErrPacket | undefined = undefined;
  /** The server asked for a local file (0xfb): the caller decides what follows. */
  localInfile = false;
  /** COM_STMT_PREPARE: the server's statement id and its parameter count. */
  statement: number | undefined = undefined;
  params = 0;
  /** Packets of column definitions, for masking (their index in the current result set). */
  columnIndex = -1;
  /** Result sets begun. */
  resultSets = 0;
  /** An execute opened a cursor: rows come with COM_STMT_FETCH. */
  cursor = false;

  constructor(shape: ResponseShape, deprecateEof: boolean) {
    this.#shape = shape;
    this.#deprecateEof = deprecateEof;
    this.#state = shape === 'fetch' ? State.Rows : shape === 'field-list' ? State.Columns : State.First;
    if (shape === 'field-list') this.#remaining = Number.MAX_SAFE_INTEGER;
  }

  get shape(): ResponseShape {
    return this.#shape;
  }

  /** How many columns the current result set (or prepared statement) has. */
  get columnCount(): number {
    return this.#total;
  }

  get done(): boolean {
    return this.#state === State.Done;
  }

  /** In the column definitions of a result set: `columnIndex` says which. */
  get inColumns(): boolean {
    return this.#state === State.Columns && this.#shape !== 'field-list';
  }

  get inRows(): boolean {
    return this.#state === State.Rows;
  }

  /** Reads one packet of the response; MalformedPacket when it cannot be one. */
  feed(payload: Buffer): void {
    this.columnIndex = -1;
    switch (this.#state) {
      case State.First:
        return this.#first(payload);
      case State.Columns:
        if (this.#shape === 'field-list') {
          if (isEnd(payload)) return this.#end();
          if (payload[0] === Header.ERR) return this.#fail(payload);
          return;
        }
        this.columnIndex = this.#total - this.#remaining;
        if (--this.#remaining === 0) this.#state = this.#deprecateEof ? State.Rows : State.ColumnsEof;
        return;
      case State.ColumnsEof: {
        if (payload[0] !== Header.EOF) throw new MalformedPacket('expected EOF after column definitions');
        const { status } = readEofStatus(payload);
        if (status & Status.CURSOR_EXISTS && !(status & Status.LAST_ROW_SENT)) {
          this.cursor = true;
          this.#state = State.Done;
          return;
        }
        this.#state = State.Rows;
        return;
      }
      case State.Rows:
        if (isEnd(payload)) {
          const status = this.#deprecateEof ? readOkStatus(payload).status : readEofStatus(payload).status;
          if (status & Status.CURSOR_EXISTS && this.#shape === 'result') this.cursor = true;
          this.#state = status & Status.MORE_RESULTS_EXISTS && this.#shape === 'result' ? State.First : State.Done;
          return;
        }
        if (payload[0] === Header.ERR) return this.#fail(payload);
        this.rows++;
        return;
      case State.PrepareParams:
        if (--this.#remaining === 0) this.#state = this.#deprecateEof ? this.#afterParams() : State.PrepareParamsEof;
        return;
      case State.PrepareParamsEof:
        this.#state = this.#afterParams();
        return;
      case State.PrepareColumns:
        this.columnIndex = this.#total - this.#remaining;
        if (--this.#remaining === 0) this.#state = this.#deprecateEof ? State.Done : State.PrepareColumnsEof;
        return;
      case State.PrepareColumnsEof:
        this.#state = State.Done;
        return;
      case State.Done:
        throw new MalformedPacket('a packet after the end of the response');
    }
  }

  #total = 0;

  #first(payload: Buffer): void {
    const head = payload[0];
    if (head === Header.ERR) return this.#fail(payload);
    if (this.#shape === 'string') {
      this.#state = State.Done;
      return;
    }
    if (this.#shape === 'single') {
      this.#state = State.Done;
      return;
    }
    if (this.#shape === 'prepare') {
      if (head !== Header.OK) throw new MalformedPacket('expected COM_STMT_PREPARE_OK');
      const ok = decodePrepareOk(payload);
      this.statement = ok.statement;
      this.params = ok.params;
      this.#prepareColumns = ok.columns;
      if (ok.params > 0) {
        this.#total = this.#remaining = ok.params;
        this.#state = State.PrepareParams;
      } else this.#state = this.#afterParams();
      return;
    }
    if (head === Header.OK) {
      const ok = readOkStatus(payload);
      this.affected += ok.affectedRows;
      this.#state = ok.status & Status.MORE_RESULTS_EXISTS ? State.First : State.Done;
      return;
    }
    if (head === Header.LOCAL_INFILE) {
      // After the file (or an empty one) the server answers OK or ERR.
      this.localInfile = true;
      return;
    }
    const count = new PayloadReader(payload).lenencInt();
    if (count === 0) throw new MalformedPacket('a result set of no columns');
    this.resultSets++;
    this.#total = this.#remaining = count;
    this.#state = State.Columns;
  }

  #afterParams(): State {
    if (this.#prepareColumns === 0) return State.Done;
    this.#total = this.#remaining = this.#prepareColumns;
    return State.PrepareColumns;
  }

  #end(): void {
    this.#state = State.Done;
  }

  #fail(payload: Buffer): void {
    this.error = readErr(payload);
    this.#state = State.Done;
  }
}
