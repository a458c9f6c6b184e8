// Checks an event before it is hashed into the log, which can never be edited afterwards. The
// secret-name check is a cheap tripwire for producer mistakes (a credential passed in `data`
// fails loudly in tests), not a scanner: producers must pass only names, ids and fingerprints.
import type { AuditEvent } from '../core/audit-event.ts';
import { GatewayError } from '../core/errors.ts';
import { canonicalJson } from './record-hash.ts';
import { isSecretFieldName } from '../core/secret-names.ts';
import type { CheckedEvent, PreparedEvent } from '../store/repositories/audit.ts';

// CheckedEvent: checked on the caller's thread, where what can be wrong with it in the caller's
// terms (names, shapes, secrets, values JSON cannot carry) is reported at once; `json` is the
// plain JSON text of its data, cheap to hand to the writer thread. Canonicalisation happens on
// the writer's side (canonicalEvent), off the hot path.

/** Deep enough for any sane event; also what stops a cyclic object. */
const MAX_DEPTH = 32;
/** Audit data is names and ids; a producer dumping a payload here is a bug. */
const MAX_DATA_BYTES = 64 * 1024;

/**
 * Set by findSecretKey when the walked data is not already in canonical order (keys out of
 * order, or a toJSON() whose output the walk cannot see). Module state rather than a returned
 * pair: the walk runs per audit record and allocates nothing.
 */
let notCanonical = false;


/** Path of the first secret-named key in `value` (e.g. `upstream.headers.Authorization`). */
function findSecretKey(value: unknown, path: string, depth: number, type: string): string | undefined {
  // JSON.stringify would turn these into null or throw; RFC 8785 has no spelling for them.
  if (typeof value === 'number' && !Number.isFinite(value)) throw notJson(type, `${Number.isNaN(value) ? 'NaN' : 'Infinity'} is not allowed`);
  if (typeof value === 'bigint') throw notJson(type, 'a bigint is not allowed');
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > MAX_DEPTH) throw new GatewayError('PCS_AUDIT_EVENT_INVALID', { type, reason: `data is nested deeper than ${MAX_DEPTH} levels (or cyclic)` });
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      // A path is only built for what can contain keys: a scalar's check never names it.
      const found = findSecretKey(item, item !== null && typeof item === 'object' ? `${path}[${i}]` : path, depth + 1, type);
      if (found) return found;
    }
    return undefined;
  }
  // A Map, Set or class instance would serialise as {} and lose what the producer meant to record.
  const proto: unknown = Object.getPrototypeOf(value);
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') notCanonical = true;
  else if (proto !== Object.prototype && proto !== null) {
    throw new GatewayError('PCS_AUDIT_EVENT_INVALID', { type, reason: `data${path ? `.${path}` : ''} is not a plain object` });
  }
  const record = value as Record<string, unknown>;
  // for-in rather than Object.keys: the same keys in the same order for a plain object, without
  // an array per object (this runs for every audit record).
  let previous: string | undefined;
  for (const key in record) {
    // JCS sorts by UTF-16 code units, which is how `<` compares strings. Integer-like keys come
    // first in property order whatever their spelling ("9" before "10"), which this catches too.
    if (previous !== undefined && !(previous < key)) notCanonical = true;
    previous = key;
    const child = record[key];
    if (isSecretFieldName(key)) return path ? `${path}.${key}` : key;
    const found = findSecretKey(child, child !== null && typeof child === 'object' ? (path ? `${path}.${key}` : key) : path, depth + 1, type);
    if (found) return found;
  }
  return undefined;
}

function notJson(type: string, reason: string, cause?: unknown): GatewayError {
  return new GatewayError('PCS_AUDIT_EVENT_INVALID', { type, reason: `data is not representable as JSON (${reason})` }, { cause });
}

/** Validate an event on the caller's thread; throws a GatewayError naming the problem (never a value). */
export function checkEvent(event: AuditEvent): CheckedEvent {
  // Checked at run time too: producers outside TypeScript (plugins, JSON input) exist.
  const type: unknown = event.type;
  if (typeof type !== 'string' || type === '') throw new GatewayError('PCS_AUDIT_EVENT_INVALID', { type: '(none)', reason: 'type must be a non-empty string' });
  if (typeof event.actor !== 'string' || event.actor === '') throw new GatewayError('PCS_AUDIT_EVENT_INVALID', { type, reason: 'actor must be a non-empty string' });
  const raw: unknown = event.data;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new GatewayError('PCS_AUDIT_EVENT_INVALID', { type, reason: 'data must be a JSON object' });

  notCanonical = false;
  const secretPath = findSecretKey(raw, '', 0, type);
  if (secretPath) throw new GatewayError('PCS_AUDIT_SECRET_FIELD', { type, path: secretPath });

  let json: string;
  try {
    // Native and fast; calls toJSON (a Date becomes its ISO text) as canonicalisation would.
    json = JSON.stringify(raw);
  } catch (err) {
    throw notJson(type, err instanceof Error ? err.message : String(err), err);
  }
  return { type, actor: event.actor, json, canonical: !notCanonical };
}

/**
 * The writer's side: canonical text and parsed data of a checked event, exactly what is stored
 * and hashed. Throws a GatewayError (PCS_AUDIT_EVENT_INVALID) for what only shows here.
 */
export function canonicalEvent(event: CheckedEvent): PreparedEvent {
  const { type } = event;
  if (event.canonical) return { type, actor: event.actor, dataText: withinLimit(type, event.json) };
  const parsed: unknown = JSON.parse(event.json);
  // A toJSON() on the data object itself could have turned it into something else.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new GatewayError('PCS_AUDIT_EVENT_INVALID', { type, reason: 'data must be a JSON object' });
  let dataText: string;
  try {
    dataText = canonicalJson(parsed);
  } catch (err) {
    throw notJson(type, err instanceof Error ? err.message : String(err), err);
  }
  return { type, actor: event.actor, dataText: withinLimit(type, dataText) };
}

function withinLimit(type: string, dataText: string): string {
  // Cheap test first: a string of n UTF-16 units is at most 3n bytes of UTF-8.
  if (dataText.length * 3 > MAX_DATA_BYTES && Buffer.byteLength(dataText, 'utf8') > MAX_DATA_BYTES) {
    throw new GatewayError('PCS_AUDIT_EVENT_INVALID', { type, reason: `data is larger than ${MAX_DATA_BYTES} bytes` });
  }
  return dataText;
}

/** Validate and canonicalise an event in one step; throws a GatewayError naming the problem (never a value). */
export function prepareEvent(event: AuditEvent): PreparedEvent {
  return canonicalEvent(checkEvent(event));
}
