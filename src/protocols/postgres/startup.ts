// Rules about the client's startup packet that do not need a socket: which run-time
// parameters it asks for (each then decided, startup-decide.ts), which encodings are
// refused, which protocol options we ignore.
// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-STARTUPMESSAGE
import { GatewayError } from '../../core/errors.ts';
import { OptionsSyntaxError, parseOptions } from './startup-options.ts';

/**
 * Fields of the startup packet that are not run-time parameters: `user` and `database` name
 * the gateway's subject and connection (upstream they are the connection's own), `options`
 * is read into settings, `replication` would open a replication connection.
 */
const PACKET_FIELDS = new Set(['user', 'database', 'options', 'replication']);
/** A parameter name as the server accepts one: an identifier, or dotted identifiers (custom ones). */
const PARAMETER_NAME = /^[a-z_][a-z0-9_$]*(?:\.[a-z_][a-z0-9_$]*)*$/;
const FALSE_WORDS = new Set(['off', 'false', 'no', '0']);

/**
 * Client-only encodings whose multi-byte characters can contain the bytes of `'` or `\`:
 * text the analyser reads as UTF-8 would not be the text the server reads.
 */
const UNSAFE_ENCODINGS = new Set(['sjis', 'shiftjis', 'big5', 'gbk', 'uhc', 'gb18030', 'johab', 'windows932', 'windows936', 'windows949', 'windows950', 'cp932', 'cp936', 'cp949', 'cp950', 'shiftjis2004']);

/**
 * The run-time parameters a startup packet asks for, by lower-case name: `options` first,
 * then the packet's own fields, which win (PostgreSQL applies them in that order). Throws a
 * GatewayError for a replication connection, bad `options` syntax, or a name that is not a
 * parameter (or is one of the packet's own fields, `-c user=...`).
 */
export function startupSettings(params: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  const replication = params.get('replication');
  if (replication !== undefined && !FALSE_WORDS.has(replication.toLowerCase())) throw new GatewayError('PCS_PG_REPLICATION_REFUSED');
  const options = params.get('options');
  if (options !== undefined) {
    try {
      for (const { name, value } of parseOptions(options)) out.set(name, value);
    } catch (err) {
      if (err instanceof OptionsSyntaxError) throw new GatewayError('PCS_PG_STARTUP_OPTIONS_INVALID', { detail: err.message });
      throw err;
    }
  }
  for (const [key, value] of params) {
    const name = key.toLowerCase();
    if (PACKET_FIELDS.has(name) || name.startsWith('_pq_.')) continue;
    out.set(name, value);
  }
  for (const name of out.keys()) {
    if (PACKET_FIELDS.has(name) || name.startsWith('_pq_.')) throw new GatewayError('PCS_PG_STARTUP_PARAM_REFUSED', { name, reason: 'it is a field of the startup packet, not a run-time parameter' });
    if (!PARAMETER_NAME.test(name)) throw new GatewayError('PCS_PG_STARTUP_PARAM_REFUSED', { name: JSON.stringify(name), reason: 'it is not a parameter name' });
  }
  return out;
}

/** The client_encoding asked for, when it is one we refuse. */
export function unsafeEncoding(params: ReadonlyMap<string, string>): string | undefined {
  for (const [name, value] of params) {
    if (name.toLowerCase() === 'client_encoding' && UNSAFE_ENCODINGS.has(value.toLowerCase().replace(/[^a-z0-9]/g, ''))) return value;
  }
  return undefined;
}

/** `_pq_.` protocol extensions: none is implemented, each is reported back as unrecognised. */
export function protocolOptions(params: ReadonlyMap<string, string>): string[] {
  return [...params.keys()].filter((k) => k.startsWith('_pq_.'));
}
