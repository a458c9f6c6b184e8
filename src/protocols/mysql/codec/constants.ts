// Named constants of the MySQL client/server protocol.
// https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html
// https://mariadb.com/kb/en/clientserver-protocol/

/** Packet header: 3-byte little-endian payload length, 1-byte sequence id. */
export const HEADER_LENGTH = 4;
/** A payload of exactly this length continues in the next packet (16 MiB - 1). */
export const MAX_PACKET_PAYLOAD = 0xffffff;

/** Capability flags. https://dev.mysql.com/doc/dev/mysql-server/latest/group__group__cs__capabilities__flags.html */
export const Cap = {
  LONG_PASSWORD: 1 << 0, // MariaDB reads its absence as "extended capabilities follow"
  FOUND_ROWS: 1 << 1,
  LONG_FLAG: 1 << 2,
  CONNECT_WITH_DB: 1 << 3,
  NO_SCHEMA: 1 << 4,
  COMPRESS: 1 << 5,
  ODBC: 1 << 6,
  LOCAL_FILES: 1 << 7,
  IGNORE_SPACE: 1 << 8,
  PROTOCOL_41: 1 << 9,
  INTERACTIVE: 1 << 10,
  SSL: 1 << 11,
  IGNORE_SIGPIPE: 1 << 12,
  TRANSACTIONS: 1 << 13,
  RESERVED: 1 << 14,
  SECURE_CONNECTION: 1 << 15,
  MULTI_STATEMENTS: 1 << 16,
  MULTI_RESULTS: 1 << 17,
  PS_MULTI_RESULTS: 1 << 18,
  PLUGIN_AUTH: 1 << 19,
  CONNECT_ATTRS: 1 << 20,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 1 << 21,
  CAN_HANDLE_EXPIRED_PASSWORDS: 1 << 22,
  SESSION_TRACK: 1 << 23,
  DEPRECATE_EOF: 1 << 24,
  OPTIONAL_RESULTSET_METADATA: 1 << 25,
  ZSTD_COMPRESSION: 1 << 26,
  QUERY_ATTRIBUTES: 1 << 27,
} as const;

/** Command bytes (first byte of a command packet). */
export const Com = {
  SLEEP: 0x00,
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  CREATE_DB: 0x05,
  DROP_DB: 0x06,
  REFRESH: 0x07,
  SHUTDOWN: 0x08,
  STATISTICS: 0x09,
  PROCESS_INFO: 0x0a,
  CONNECT: 0x0b,
  PROCESS_KILL: 0x0c,
  DEBUG: 0x0d,
  PING: 0x0e,
  TIME: 0x0f,
  DELAYED_INSERT: 0x10,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  TABLE_DUMP: 0x13,
  CONNECT_OUT: 0x14,
  REGISTER_SLAVE: 0x15,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  DAEMON: 0x1d,
  BINLOG_DUMP_GTID: 0x1e,
  RESET_CONNECTION: 0x1f,
} as const;

/** First byte of a response packet. */
export const Header = {
  OK: 0x00,
  LOCAL_INFILE: 0xfb,
  EOF: 0xfe,
  ERR: 0xff,
} as const;

/** Server status flags (OK and EOF packets). */
export const Status = {
  IN_TRANS: 0x0001,
  AUTOCOMMIT: 0x0002,
  MORE_RESULTS_EXISTS: 0x0008,
  CURSOR_EXISTS: 0x0040,
  LAST_ROW_SENT: 0x0080,
  PS_OUT_PARAMS: 0x1000,
} as const;

/** Auth exchange markers inside the connection phase. */
export const Auth = {
  /** AuthMoreData. */
  MORE_DATA: 0x01,
  /** caching_sha2_password client: "send me your RSA public key". */
  REQUEST_PUBLIC_KEY: 0x02,
  /** caching_sha2_password server: fast path succeeded / full authentication needed. */
  FAST_AUTH_OK: 0x03,
  PERFORM_FULL_AUTH: 0x04,
  /** AuthSwitchRequest shares its first byte with EOF. */
  SWITCH: 0xfe,
} as const;

/** Column types of column definitions and binary rows. https://dev.mysql.com/doc/dev/mysql-server/latest/field__types_8h.html */
export const ColumnType = {
  DECIMAL: 0x00,
  TINY: 0x01,
  SHORT: 0x02,
  LONG: 0x03,
  FLOAT: 0x04,
  DOUBLE: 0x05,
  NULL: 0x06,
  TIMESTAMP: 0x07,
  LONGLONG: 0x08,
  INT24: 0x09,
  DATE: 0x0a,
  TIME: 0x0b,
  DATETIME: 0x0c,
  YEAR: 0x0d,
  NEWDATE: 0x0e,
  VARCHAR: 0x0f,
  BIT: 0x10,
  JSON: 0xf5,
  NEWDECIMAL: 0xf6,
  ENUM: 0xf7,
  SET: 0xf8,
  TINY_BLOB: 0xf9,
  MEDIUM_BLOB: 0xfa,
  LONG_BLOB: 0xfb,
  BLOB: 0xfc,
  VAR_STRING: 0xfd,
  STRING: 0xfe,
  GEOMETRY: 0xff,
} as const;

/** utf8mb4_general_ci: the collation the gateway announces in its greeting. */
export const UTF8MB4_GENERAL_CI = 45;

/** Error numbers the gateway sends. https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html */
export const ErrNo = {
  /** ER_ACCESS_DENIED_ERROR (28000): failed login. */
  ACCESS_DENIED: 1045,
  /** ER_DBACCESS_DENIED_ERROR (42000): no such connection / database refused. */
  DBACCESS_DENIED: 1044,
  /** ER_TABLEACCESS_DENIED_ERROR (42000): a statement refused by policy. */
  TABLEACCESS_DENIED: 1142,
  /** ER_SPECIFIC_ACCESS_DENIED_ERROR (42000). */
  SPECIFIC_ACCESS_DENIED: 1227,
  /** ER_UNKNOWN_COM_ERROR (08S01). */
  UNKNOWN_COM: 1047,
  /** ER_NET_PACKETS_OUT_OF_ORDER (08S01). */
  PACKETS_OUT_OF_ORDER: 1156,
  /** ER_HANDSHAKE_ERROR (08S01). */
  HANDSHAKE: 1043,
  /** ER_NOT_SUPPORTED_AUTH_MODE (08004). */
  NOT_SUPPORTED_AUTH_MODE: 1251,
  /** ER_SERVER_SHUTDOWN (08S01). */
  SERVER_SHUTDOWN: 1053,
  /** ER_NET_PACKET_TOO_LARGE (08S01). */
  PACKET_TOO_LARGE: 1153,
  /** ER_UNKNOWN_STMT_HANDLER (HY000). */
  UNKNOWN_STMT_HANDLER: 1243,
  /** ER_NO_SUCH_THREAD (HY000). */
  NO_SUCH_THREAD: 1094,
  /** ER_SECURE_TRANSPORT_REQUIRED (HY000). */
  SECURE_TRANSPORT_REQUIRED: 3159,
  /** ER_UNKNOWN_ERROR (HY000). */
  UNKNOWN: 1105,
  /** ER_CON_COUNT_ERROR... used for upstream failures: ER_CONNECTION_KILLED would confuse. */
  BAD_HOST: 1130,
} as const;
