// Message codes and framing constants of the PostgreSQL frontend/backend protocol 3.0.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
// Each code carries its character in a comment; `as const` objects, not enums.

/** Type byte + int32 length. */
export const HEADER_LENGTH = 5;
/** The int32 length of a startup packet (which has no type byte). */
export const STARTUP_HEADER_LENGTH = 4;
/** Startup packets are small; PostgreSQL itself refuses more than 10000 bytes (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_LENGTH = 10_000;
/** Default ceiling of one frontend message: big enough for large COPY rows and Bind values. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

/** Special request codes carried in the version field of a startup packet. */
export const RequestCode = {
  Cancel: 80877102, // 1234.5678
  Ssl: 80877103, // 1234.5679
  GssEnc: 80877104, // 1234.5680
} as const;

export const PROTOCOL_3_0 = 196608; // 3 << 16

/** Messages a client sends after startup. */
export const Frontend = {
  Bind: 0x42, // B
  Close: 0x43, // C
  Describe: 0x44, // D
  Execute: 0x45, // E
  FunctionCall: 0x46, // F
  Flush: 0x48, // H
  Parse: 0x50, // P
  Query: 0x51, // Q
  Sync: 0x53, // S
  Terminate: 0x58, // X
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  /** PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse share 'p'. */
  Password: 0x70, // p
} as const;

/** Messages a server sends. */
export const Backend = {
  ParseComplete: 0x31, // 1
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  NotificationResponse: 0x41, // A
  CommandComplete: 0x43, // C
  DataRow: 0x44, // D
  ErrorResponse: 0x45, // E
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  EmptyQueryResponse: 0x49, // I
  BackendKeyData: 0x4b, // K
  NoticeResponse: 0x4e, // N
  Authentication: 0x52, // R
  ParameterStatus: 0x53, // S
  RowDescription: 0x54, // T
  FunctionCallResponse: 0x56, // V
  CopyBothResponse: 0x57, // W
  ReadyForQuery: 0x5a, // Z
  CopyDone: 0x63, // c
  CopyData: 0x64, // d
  NoData: 0x6e, // n
  PortalSuspended: 0x73, // s
  ParameterDescription: 0x74, // t
  NegotiateProtocolVersion: 0x76, // v
} as const;

/** Subtypes of Authentication ('R'). */
export const AuthCode = {
  Ok: 0,
  CleartextPassword: 3,
  Md5Password: 5,
  Sasl: 10,
  SaslContinue: 11,
  SaslFinal: 12,
} as const;

/** Transaction status in ReadyForQuery. */
export const TxStatus = {
  Idle: 0x49, // I
  InTransaction: 0x54, // T
  Failed: 0x45, // E
} as const;
export type TxStatusByte = (typeof TxStatus)[keyof typeof TxStatus];

/** Field codes of ErrorResponse / NoticeResponse. */
export const ErrorField = {
  Severity: 0x53, // S (localized)
  SeverityV: 0x56, // V (never localized)
  Code: 0x43, // C
  Message: 0x4d, // M
  Detail: 0x44, // D
  Hint: 0x48, // H
  Position: 0x50, // P
} as const;
