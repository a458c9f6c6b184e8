// What one session knows of the server's catalog for its decisions and masks: the search_path
// (read at login, re-read after a statement that may have moved it) and the relations masking
// traces columns through (re-read after the session's own DDL, and when old). Both are read
// by one internal query the session sends after a Sync or Query; this part says when one is
// due and reads its answers, which the client never sees.
import { parseTextArray } from './upstream.ts';
import { isOld, RELATION_CATALOG_SQL, relationSnapshot, type RelationSnapshot } from './masking/relations.ts';
import { readTextRow } from './codec/backend-read.ts';
import { Backend } from './codec/constants.ts';

const SEARCH_PATH_SQL = 'SELECT pg_catalog.current_schemas(false)::text';
/** Before a catalog was read (or when none could be): every relation unknown, so every column opaque. */
const EMPTY_SNAPSHOT: RelationSnapshot = relationSnapshot(undefined, ['public'], 0);

/** What an answer frame to the internal query was. */
export const InternalAnswer = {
  /** Not part of the answer (a notice, a notification): the client's. */
  NotMine: 0,
  /** Consumed. */
  Swallowed: 1,
  /** Its ReadyForQuery: the query is done, the new path and relations are in place. */
  Done: 2,
} as const;
export type InternalAnswer = (typeof InternalAnswer)[keyof typeof InternalAnswer];

export class CatalogRefresher {
  #searchPath: readonly string[];
  #snapshot: RelationSnapshot;
  #refreshPath = false;
  #refreshRelations = false;
  /** Rows of the internal query's result sets (search_path, then the relation catalog). */
  #results: (string | null)[][][] = [];
  #failed = false;
  #readsRelations = false;

  constructor(searchPath: readonly string[], snapshot: RelationSnapshot | undefined) {
    this.#searchPath = searchPath;
    this.#snapshot = snapshot ?? EMPTY_SNAPSHOT;
  }

  get searchPath(): readonly string[] {
    return this.#searchPath;
  }

  get snapshot(): RelationSnapshot {
    return this.#snapshot;
  }

  /** A statement that may have moved the search_path ran, and the path is not re-read yet. */
  get pathMayMove(): boolean {
    return this.#refreshPath;
  }

  /** An allowed statement may move the search_path: re-read it before the next decision. */
  pathMoved(): void {
    this.#refreshPath = true;
  }

  /** The session's own DDL changed relations masking traces through. */
  relationsChanged(): void {
    this.#refreshRelations = true;
  }

  /**
   * After a Sync or Query: the internal query to send now, or undefined. `columnMasking`: a
   * column mask applied in this session, so old relations are worth re-reading.
   */
  due(columnMasking: boolean): string | undefined {
    if (columnMasking && !this.#refreshRelations && this.#snapshot !== EMPTY_SNAPSHOT && isOld(this.#snapshot)) this.#refreshRelations = true;
    if (!this.#refreshPath && !this.#refreshRelations) return undefined;
    const relations = this.#refreshRelations;
    this.#refreshPath = false;
    this.#refreshRelations = false;
    this.#readsRelations = relations;
    this.#results = [];
    this.#failed = false;
    return relations ? `${SEARCH_PATH_SQL}; ${RELATION_CATALOG_SQL}` : SEARCH_PATH_SQL;
  }

  /** One answer frame of the internal query. */
  answer(frame: Buffer, type: number | undefined): InternalAnswer {
    switch (type) {
      case Backend.RowDescription:
        this.#results.push([]);
        return InternalAnswer.Swallowed;
      case Backend.DataRow:
        this.#results[this.#results.length - 1]?.push(readTextRow(frame));
        return InternalAnswer.Swallowed;
      case Backend.ErrorResponse:
        this.#failed = true;
        return InternalAnswer.Swallowed;
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
        return InternalAnswer.Swallowed;
      case Backend.ReadyForQuery: {
        // In a failed transaction the query errors: the previous path and relations stand until ROLLBACK.
        const path = this.#results[0]?.[0]?.[0];
        if (typeof path === 'string') this.#searchPath = parseTextArray(path);
        const relations = this.#results[1];
        if (this.#readsRelations && !this.#failed && relations !== undefined && relations.length > 0) this.#snapshot = relationSnapshot(relations, this.#searchPath);
        this.#results = [];
        return InternalAnswer.Done;
      }
      default:
        return InternalAnswer.NotMine; // notices, notifications, parameter status: the client's
    }
  }
}
