// What PostgreSQL's built-in functions do, for statement effects (issue 3, point 4).
//
// The rule, for a function name as written in a statement:
// 1. A name in SIDE_EFFECTS (bare name; any schema for the extension functions listed there,
//    pg_catalog or unqualified for the others) has the effect given there. Nothing overrides it.
// 2. Otherwise a built-in (a pg_catalog function of PostgreSQL 15-18: pg-catalog-functions.ts,
//    generated from a real server) that is immutable or stable is `read`; a volatile one is
//    `read` when it is in HARMLESS_VOLATILE and `unknown` otherwise (a new volatile built-in is
//    opaque until someone classifies it here).
// 3. Anything else is a user-defined function, decided by the catalog (function-catalog.ts).
import type { SqlEffect } from '../../core/action.ts';
import { PG_IMMUTABLE, PG_STABLE, PG_VOLATILE } from './pg-catalog-functions.ts';
import type { Volatility } from '../function-catalog.ts';

function words(text: string): string[] {
  return text.split(' ').filter((w) => w !== '');
}

/** Built-in name -> volatility (the most volatile of its overloads). */
export const BUILTIN_VOLATILITY: ReadonlyMap<string, Volatility> = new Map<string, Volatility>([
  ...words(PG_IMMUTABLE).map((n) => [n, 'immutable'] as const),
  ...words(PG_STABLE).map((n) => [n, 'stable'] as const),
  ...words(PG_VOLATILE).map((n) => [n, 'volatile'] as const),
]);

const table: Record<string, SqlEffect> = {};
function classify(effect: SqlEffect, names: string): void {
  for (const name of words(names)) table[name] = effect;
}

// write: changes data or state other sessions see, or takes locks.
classify('write', 'nextval setval pg_notify txid_current pg_current_xact_id pg_logical_emit_message');
classify('write', 'pg_advisory_lock pg_advisory_lock_shared pg_advisory_xact_lock pg_advisory_xact_lock_shared');
classify('write', 'pg_try_advisory_lock pg_try_advisory_lock_shared pg_try_advisory_xact_lock pg_try_advisory_xact_lock_shared');
classify('write', 'pg_advisory_unlock pg_advisory_unlock_shared pg_advisory_unlock_all');
// admin: the server's files and programs, other backends, the server's configuration, WAL,
// replication, statistics and index maintenance, large objects (outside every table, so
// relation globs cannot govern them), binary upgrade support.
classify('admin', 'pg_read_file pg_read_file_old pg_read_binary_file pg_ls_dir pg_stat_file pg_current_logfile');
classify('admin', 'pg_ls_logdir pg_ls_waldir pg_ls_tmpdir pg_ls_archive_statusdir pg_ls_logicalmapdir pg_ls_logicalsnapdir pg_ls_replslotdir pg_ls_summariesdir');
classify('admin', 'pg_hba_file_rules pg_ident_file_mappings pg_show_all_file_settings');
classify('admin', 'lo_import lo_export lo_creat lo_create lo_from_bytea lo_put lo_get lo_open lo_close lo_lseek lo_lseek64');
classify('admin', 'lo_tell lo_tell64 lo_truncate lo_truncate64 lo_unlink loread lowrite');
classify('admin', 'pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile pg_rotate_logfile_old');
classify('admin', 'pg_log_backend_memory_contexts pg_log_standby_snapshot');
classify('admin', 'pg_switch_wal pg_promote pg_create_restore_point pg_backup_start pg_backup_stop pg_wal_replay_pause pg_wal_replay_resume');
classify('admin', 'pg_create_physical_replication_slot pg_create_logical_replication_slot pg_drop_replication_slot');
classify('admin', 'pg_copy_physical_replication_slot pg_copy_logical_replication_slot pg_replication_slot_advance pg_sync_replication_slots');
classify('admin', 'pg_logical_slot_get_changes pg_logical_slot_get_binary_changes pg_logical_slot_peek_changes pg_logical_slot_peek_binary_changes');
classify('admin', 'pg_replication_origin_create pg_replication_origin_drop pg_replication_origin_advance pg_replication_origin_session_setup');
classify('admin', 'pg_replication_origin_session_reset pg_replication_origin_xact_setup pg_replication_origin_xact_reset');
classify('admin', 'pg_stat_reset pg_stat_reset_shared pg_stat_reset_single_table_counters pg_stat_reset_single_function_counters');
classify('admin', 'pg_stat_reset_slru pg_stat_reset_replication_slot pg_stat_reset_subscription_stats pg_stat_reset_backend_stats');
classify('admin', 'pg_clear_attribute_stats pg_clear_relation_stats pg_restore_attribute_stats pg_restore_relation_stats');
classify('admin', 'brin_summarize_new_values brin_summarize_range brin_desummarize_range gin_clean_pending_list');
classify('admin', 'pg_import_system_collations pg_extension_config_dump pg_stop_making_pinned_objects pg_nextoid');
classify('admin', 'binary_upgrade_create_empty_extension binary_upgrade_set_missing_value binary_upgrade_set_record_init_privs');
// unknown: they run SQL given as a string (or read any table named by a string, out of sight of
// relation globs), or change any setting, including `role` (set_config).
classify('unknown', 'set_config query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml cursor_to_xmlschema');
classify('unknown', 'table_to_xml table_to_xmlschema table_to_xml_and_xmlschema schema_to_xml schema_to_xmlschema schema_to_xml_and_xmlschema');
classify('unknown', 'database_to_xml database_to_xmlschema database_to_xml_and_xmlschema ts_stat ts_rewrite');

/** pg_catalog functions (called unqualified or as pg_catalog.name) with a fixed effect. */
export const SIDE_EFFECTS: Readonly<Record<string, SqlEffect>> = Object.freeze(table);

const ext: Record<string, SqlEffect> = {};
for (const name of words('dblink dblink_exec dblink_connect dblink_connect_u dblink_open dblink_fetch dblink_send_query dblink_get_result')) ext[name] = 'unknown';
// adminpack, pg_stat_statements, pg_prewarm, file_fdw-style helpers: the server's files and state.
for (const name of words('pg_file_write pg_file_rename pg_file_unlink pg_file_sync pg_logdir_ls pg_stat_statements_reset pg_prewarm autoprewarm_dump_now')) ext[name] = 'admin';

/**
 * Functions of well-known extensions, installed in whichever schema: by bare name, in any
 * schema, and not allow-listable (`read_functions` cannot make dblink_exec read).
 */
export const EXTENSION_EFFECTS: Readonly<Record<string, SqlEffect>> = Object.freeze(ext);

/**
 * Volatile built-ins that change nothing another session or a later statement could see
 * (clocks, random numbers, sleeping, sizes and status of the server).
 */
export const HARMLESS_VOLATILE: ReadonlySet<string> = new Set(
  words(`clock_timestamp timeofday random random_normal setseed gen_random_uuid uuidv4 uuidv7 array_sample array_shuffle
    pg_sleep pg_sleep_for pg_sleep_until currval lastval current_query pg_export_snapshot pg_jit_available
    pg_blocking_pids pg_safe_snapshot_blocking_pids pg_isolation_test_session_is_blocked pg_is_in_recovery pg_is_wal_replay_paused
    pg_get_wal_replay_pause_state pg_last_wal_receive_lsn pg_last_wal_replay_lsn pg_last_xact_replay_timestamp pg_last_committed_xact
    pg_current_wal_lsn pg_current_wal_flush_lsn pg_current_wal_insert_lsn pg_control_checkpoint pg_control_init pg_control_recovery pg_control_system
    pg_database_size pg_relation_size pg_table_size pg_indexes_size pg_total_relation_size pg_tablespace_size pg_column_toast_chunk_id
    pg_lock_status pg_notification_queue_usage pg_partition_ancestors pg_partition_tree pg_prepared_xact pg_sequence_last_value
    pg_collation_actual_version pg_database_collation_actual_version pg_xact_commit_timestamp pg_xact_commit_timestamp_origin
    pg_xact_status txid_status pg_stat_have_stats pg_stat_clear_snapshot pg_stat_force_next_flush pg_stat_get_recovery_prefetch
    pg_stat_get_xact_blocks_fetched pg_stat_get_xact_blocks_hit pg_stat_get_xact_function_calls pg_stat_get_xact_function_self_time
    pg_stat_get_xact_function_total_time pg_stat_get_xact_numscans pg_stat_get_xact_tuples_deleted pg_stat_get_xact_tuples_fetched
    pg_stat_get_xact_tuples_hot_updated pg_stat_get_xact_tuples_inserted pg_stat_get_xact_tuples_returned pg_stat_get_xact_tuples_updated
    pg_stat_get_io pg_stat_get_backend_io pg_stat_get_backend_wal pg_get_backend_memory_contexts pg_get_shmem_allocations
    pg_get_multixact_members pg_get_wal_resource_managers pg_get_wal_block_info pg_get_wal_summarizer_state pg_available_wal_summaries
    pg_wal_summary_contents pg_show_replication_origin_status pg_replication_origin_progress pg_replication_origin_session_is_setup
    pg_replication_origin_session_progress pg_get_loaded_modules pg_numa_available pg_get_process_memory_contexts`),
);

/**
 * The effect of a built-in by bare name, or undefined when the name is not a built-in.
 * `volatility` is the live catalog's for pg_catalog.name, used when the shipped list lacks it.
 */
export function builtinEffect(name: string, volatility?: Volatility): SqlEffect | undefined {
  const fixed = SIDE_EFFECTS[name];
  if (fixed !== undefined) return fixed;
  const v = BUILTIN_VOLATILITY.get(name) ?? volatility;
  if (v === undefined) return undefined;
  return v !== 'volatile' || HARMLESS_VOLATILE.has(name) ? 'read' : 'unknown';
}
