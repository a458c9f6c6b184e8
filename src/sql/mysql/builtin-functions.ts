// What MySQL's and MariaDB's built-in functions do, for statement effects. The same rule as
// PostgreSQL's (postgres/builtin-functions.ts): a name in SIDE_EFFECTS has that effect; any
// other built-in listed here only reads (clocks, random numbers and SLEEP included: they
// change nothing another session sees); a name not listed is a stored function, whose effect
// the server does not vouch for (its SQL DATA ACCESS characteristic is advisory, MySQL does
// not enforce READS SQL DATA), so it is `unknown` unless the connection's `read_functions`
// names it. Function names are case-insensitive in MySQL: the table is lower-case.
import type { SqlEffect } from '../../core/action.ts';
import type { FunctionCatalog } from '../function-catalog.ts';

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== '');
}

const SIDE_EFFECTS: ReadonlyMap<string, SqlEffect> = new Map<string, SqlEffect>([
  // Named locks other sessions wait on; sequences (MariaDB) advance for everyone.
  ...words('get_lock release_lock release_all_locks nextval setval').map((n) => [n, 'write'] as const),
  // The server host's files, and the replication stream.
  ...words('load_file master_pos_wait source_pos_wait master_gtid_wait wait_for_executed_gtid_set wait_until_sql_thread_after_gtids').map((n) => [n, 'admin'] as const),
]);

/** Built-ins that only compute or read (MySQL 8.4 and MariaDB 11 function references). */
const READ = new Set(
  words(`
    abs acos adddate addtime aes_decrypt aes_encrypt any_value ascii asin atan atan2 avg
    benchmark bin bin_to_uuid binary bit_and bit_count bit_length bit_or bit_xor
    can_access_column can_access_database can_access_table can_access_user can_access_view cast ceil ceiling char char_length
    character_length charset chr coalesce coercibility collation column_add column_check column_create column_delete column_exists
    column_get column_json column_list compress concat concat_ws connection_id conv convert convert_tz cos cot count crc32 crc32c
    cume_dist curdate current_date current_role current_time current_timestamp current_user curtime
    database date date_add date_format date_sub datediff day dayname dayofmonth dayofweek dayofyear decode default degrees
    dense_rank des_decrypt des_encrypt div elt encode encrypt exp export_set extract extractvalue
    field find_in_set first_value floor format format_bytes format_pico_time found_rows from_base64 from_days from_unixtime
    geomcollection geometrycollection get_dd_column_privileges get_dd_create_options get_dd_index_sub_part_length get_format
    greatest group_concat grouping gtid_subset gtid_subtract hex hour icu_version if ifnull in inet_aton inet_ntoa inet6_aton inet6_ntoa
    insert instr interval is_free_lock is_ipv4 is_ipv4_compat is_ipv4_mapped is_ipv6 is_used_lock is_uuid isnull
    json_array json_array_append json_array_insert json_arrayagg json_array_intersect json_compact json_contains json_contains_path
    json_depth json_detailed json_equals json_exists json_extract json_insert json_keys json_length json_loose json_merge
    json_merge_patch json_merge_preserve json_normalize json_object json_object_filter_keys json_object_to_array json_objectagg
    json_overlaps json_pretty json_query json_quote json_remove json_replace json_schema_valid json_schema_validation_report
    json_search json_set json_storage_free json_storage_size json_table json_type json_unquote json_valid json_value json_key_value
    lag last_day last_insert_id last_value lastval lcase lead least left length linestring ln localtime localtimestamp locate log
    log10 log2 lower lpad ltrim make_set makedate maketime match max md5 mbrcontains mbrcoveredby mbrcovers mbrdisjoint mbrequals
    mbrintersects mbroverlaps mbrtouches mbrwithin microsecond mid min minute mod month monthname multilinestring multipoint
    multipolygon name_const natural_sort_key now nth_value ntile nullif oct octet_length old_password ord password percent_rank
    percentile_cont percentile_disc period_add period_diff pi point polygon position pow power ps_current_thread_id ps_thread_id
    quarter quote radians rand random_bytes rank regexp_instr regexp_like regexp_replace regexp_substr
    repeat replace reverse right roles_graphml round row_count row_number rpad rtrim schema sec_to_time second session_user sformat
    sha sha1 sha2 sign sin sleep soundex space sqrt st_area st_asbinary st_asgeojson st_astext st_aswkb st_aswkt st_buffer
    st_buffer_strategy st_centroid st_collect st_contains st_convexhull st_crosses st_difference st_dimension st_disjoint st_distance
    st_distance_sphere st_endpoint st_envelope st_equals st_exteriorring st_frechetdistance st_geohash st_geomcollfromtext
    st_geomcollfromwkb st_geometryn st_geometrytype st_geomfromgeojson st_geomfromtext st_geomfromwkb st_hausdorffdistance
    st_interiorringn st_intersection st_intersects st_isclosed st_isempty st_issimple st_isvalid st_latfromgeohash st_latitude
    st_length st_linefromtext st_linefromwkb st_lineinterpolatepoint st_lineinterpolatepoints st_linesubstring st_longfromgeohash
    st_longitude st_makeenvelope st_mlinefromtext st_mlinefromwkb st_mpointfromtext st_mpointfromwkb st_mpolyfromtext
    st_mpolyfromwkb st_numgeometries st_numinteriorring st_numinteriorrings st_numpoints st_overlaps st_pointatdistance
    st_pointfromgeohash st_pointfromtext st_pointfromwkb st_pointn st_polyfromtext st_polyfromwkb st_simplify st_srid
    st_startpoint st_swapxy st_symdifference st_touches st_transform st_union st_validate st_within st_x st_y statement_digest
    statement_digest_text std stddev stddev_pop stddev_samp str_to_date strcmp subdate substr substring substring_index subtime sum
    sys_guid sysdate system_user tan time time_format time_to_sec timediff timestamp timestampadd timestampdiff to_base64 to_char
    to_days to_seconds trim truncate ucase uncompress uncompressed_length unhex unix_timestamp updatexml upper user utc_date
    utc_time utc_timestamp uuid uuid_short uuid_to_bin validate_password_strength values var_pop var_samp variance version
    week weekday weekofyear weight_string year yearweek
    add_months
  `),
);

/** The effect of calling a function named as parsed (lower-case parts: `['f']`, `['app', 'f']`). */
export function mysqlFunctionEffect(parts: readonly string[], catalog: FunctionCatalog | undefined): SqlEffect {
  const name = parts[parts.length - 1] ?? '';
  if (parts.length === 1) {
    const fixed = SIDE_EFFECTS.get(name);
    if (fixed !== undefined) return fixed;
    if (READ.has(name)) return 'read';
  }
  const qualified = parts.join('.');
  return catalog?.readAllowed(qualified) === true ? 'read' : 'unknown';
}

/** A built-in whose value derives only from its arguments and the session (lineage follows its arguments). */
export function derivesFromArguments(name: string): boolean {
  return READ.has(name) && !SIDE_EFFECTS.has(name);
}
