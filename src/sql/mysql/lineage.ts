// Column lineage of MySQL statements for masking (first cut: every result opaque).
import type { LineageOptions, TextLineage } from '../dialect.ts';
import type { RelationCatalog } from '../relation-catalog.ts';
import type { MysqlServer } from './server.ts';

export function mysqlLineage(_text: string, _server: MysqlServer, _relations: RelationCatalog, opts: LineageOptions): TextLineage {
  return Object.freeze({
    results: Object.freeze([Object.freeze([Object.freeze({ name: '*', lineage: Object.freeze({ kind: 'opaque', reason: 'MySQL lineage is not available yet' }) })])]),
    predicateColumns: Object.freeze([]),
    opaquePredicates: Object.freeze(['MySQL lineage is not available yet']),
    notes: Object.freeze([]),
    // Whatever it writes, from data of unknown origin (masking refuses a masked source there).
    writes: Object.freeze(opts.writes ? [Object.freeze({ target: Object.freeze({ kind: 'file', name: '(MySQL statement)' }), lineage: Object.freeze({ kind: 'opaque', reason: 'MySQL lineage is not available yet' }) })] : []),
    readsLiterals: true,
  });
}
