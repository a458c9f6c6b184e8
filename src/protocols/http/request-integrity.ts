// Whether a request can reach the upstream as exactly the request policy decides on, under
// the connection's `integrity` settings: a method override refused, stripped, or decided as
// the effective method; a path or host override header refused or stripped; a path not in
// canonical form refused or rewritten (target.ts); what no setting makes safe refused. The
// result is the request to decide and to forward, and a refusal that the server hands the
// gate as the decision's check, so that it is audited as a denial like any other.
import { isUtf8 } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../../core/errors.ts';
import {
  formOverrides,
  headerOverrides,
  jsonMembers,
  jsonOverrides,
  multipartOverrides,
  multipartParts,
  TARGET_OVERRIDE_HEADERS,
  withoutFormOverrides,
  withoutHeaders,
  withoutJsonOverrides,
  withoutMultipartOverrides,
  OverrideNames,
  type Override,
} from './overrides.ts';
import type { HttpConnection } from './router.ts';
import type { TargetReading } from '../../policy/http-target.ts';

export type IntegritySettings = HttpConnection['integrity'];

/** Bodies that frameworks read parameters from: forms, multipart forms, JSON. */
const PARAMETER_BODY = /^application\/x-www-form-urlencoded\b|^multipart\/form-data\b|[/+]json\b/i;
/** What an override may turn a request into under `decide`: the methods the gateway forwards. */
const DECIDABLE_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface CheckedRequest {
  /** The method to decide on and to send. */
  readonly method: string;
  /** The query to decide on and to send (with its `?`, or ''). */
  readonly search: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Why nothing may be forwarded; undefined when the request can go as it now is. */
  readonly refusal: GatewayError | undefined;
}

interface Received {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** `req.rawHeaders`: names as sent, duplicates kept. */
  readonly rawHeaders: readonly string[];
  /** Over TLS, the connection whose `host` the client's server name (SNI) names, if one does. */
  readonly sniConnection: string | undefined;
  readonly body: Buffer;
}

export function checkRequest(connection: string, settings: IntegritySettings, target: TargetReading, received: Received): CheckedRequest {
  const asReceived = (refusal: GatewayError): CheckedRequest => ({ method: received.method, search: target.search, headers: received.headers, body: received.body, refusal });
  const shownPath = target.path.slice(0, 200);
  if (target.unreadable !== undefined) return asReceived(new GatewayError('PCS_HTTP_AMBIGUOUS_PATH', { path: shownPath, reason: target.unreadable }));
  if (hostHeaders(received.rawHeaders) > 1) return asReceived(new GatewayError('PCS_HTTP_BAD_REQUEST', { reason: 'more than one Host header' }));
  // TLS opened for one connection's host name, the request for another: which did the client mean?
  if (received.sniConnection !== undefined && received.sniConnection !== connection) return asReceived(new GatewayError('PCS_HTTP_MISDIRECTED', { sni: received.sniConnection, connection }));
  if (target.nonCanonical !== undefined && settings.non_canonical_paths === 'refuse') {
    return asReceived(new GatewayError('PCS_HTTP_AMBIGUOUS_PATH', { path: shownPath, reason: `not in canonical form: ${target.nonCanonical}; send ${shownPath}` }));
  }

  let headers = received.headers;
  const targetOverrides = headerOverrides(headers, TARGET_OVERRIDE_HEADERS);
  if (targetOverrides.length > 0) {
    if (settings.path_overrides === 'refuse') return asReceived(new GatewayError('PCS_HTTP_TARGET_OVERRIDE', { header: targetOverrides.map((o) => o.header).join(', '), connection }));
    headers = withoutHeaders(headers, targetOverrides.map((o) => o.header));
  }

  const names = overrideNames(settings);
  const found = methodOverrides(names, headers, target.search, received.body);
  if ('unreadable' in found) return asReceived(new GatewayError('PCS_HTTP_BAD_REQUEST', { reason: found.unreadable }));
  const { overrides } = found;
  if (overrides.length === 0) return { method: received.method, search: target.search, headers, body: received.body, refusal: undefined };
  // Echoed to the agent: its own names and values, cut short.
  const where = overrides.map((o) => o.where).join(', ').slice(0, 200);
  if (settings.method_overrides === 'refuse') return asReceived(new GatewayError('PCS_HTTP_METHOD_OVERRIDE', { where, connection, detail: 'send the method you mean as the request method' }));
  if (overrides.some((o) => !o.strippable)) return asReceived(new GatewayError('PCS_HTTP_METHOD_OVERRIDE', { where, connection, detail: 'it cannot be removed without changing another parameter' }));

  const overrideHeaders = headerOverrides(headers, names.headers).map((o) => o.header);
  const search = target.search === '' ? '' : `?${withoutFormOverrides(target.search.slice(1), names)}`;
  const stripped = { headers: withoutHeaders(headers, overrideHeaders), search: search === '?' ? '' : search };
  if (settings.method_overrides === 'strip') return { method: received.method, ...stripped, body: withoutBodyOverrides(names, headers['content-type'], received.body), refusal: undefined };

  // decide: the method the upstream would act as is the one decided and sent. The override
  // headers and query parameters go; a body's stays (frameworks honour it on POST only).
  const methods = [...new Set(overrides.map((o) => o.value.trim().toUpperCase()))];
  if (methods.length > 1) return asReceived(new GatewayError('PCS_HTTP_METHOD_OVERRIDE', { where, connection, detail: `they disagree (${methods.join(', ').slice(0, 100)})` }));
  const method = methods[0] as string;
  if (!DECIDABLE_METHODS.has(method)) return asReceived(new GatewayError('PCS_HTTP_METHOD_OVERRIDE', { where, connection, detail: `${method.slice(0, 20)} is not a method the gateway forwards` }));
  return { method, ...stripped, body: received.body, refusal: undefined };
}

/** Built once per connection's settings (configuration objects live as long as the gateway). */
const namesOf = new WeakMap<IntegritySettings, OverrideNames>();

function overrideNames(settings: IntegritySettings): OverrideNames {
  let names = namesOf.get(settings);
  if (names === undefined) namesOf.set(settings, (names = new OverrideNames(settings.method_override_params, settings.method_override_headers)));
  return names;
}

/** Every method override in the headers, the query and the body; or why the body cannot be looked into. */
function methodOverrides(names: OverrideNames, headers: IncomingHttpHeaders, search: string, body: Buffer): { overrides: Override[] } | { unreadable: string } {
  const overrides: Override[] = headerOverrides(headers, names.headers).map((h) => ({ where: `header ${h.header}`, value: h.value, strippable: true }));
  if (search !== '') overrides.push(...formOverrides(search.slice(1), 'query parameter', names));
  if (body.length === 0) return { overrides };
  const type = headers['content-type'];
  // Express's body parsers inflate a gzip or deflate body before reading `_method`; the gateway does not.
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && !/^\s*identity\s*$/i.test(encoding) && (type === undefined || PARAMETER_BODY.test(type))) {
    return { unreadable: `a ${encoding.slice(0, 20)}-encoded form or JSON body, which the gateway cannot look into: send it uncompressed` };
  }
  // Rack reads a POST body without a content type as a form.
  if (type === undefined || /^application\/x-www-form-urlencoded\b/i.test(type)) overrides.push(...formOverrides(body.toString('latin1'), 'form field', names));
  else if (/^multipart\/form-data\b/i.test(type)) {
    const parts = multipartParts(body.toString('latin1'), type);
    if (parts === undefined) return { unreadable: 'a multipart/form-data body whose parts cannot be read (no boundary, or no closing delimiter)' };
    overrides.push(...multipartOverrides(parts, names));
  } else if (/[/+]json\b/i.test(type)) {
    const json = jsonObject(body, names);
    if (json !== undefined) overrides.push(...jsonOverrides(json.text, json.members, names));
  }
  return { overrides };
}

function withoutBodyOverrides(names: OverrideNames, type: string | undefined, body: Buffer): Buffer {
  if (body.length === 0) return body;
  if (type === undefined || /^application\/x-www-form-urlencoded\b/i.test(type)) return Buffer.from(withoutFormOverrides(body.toString('latin1'), names), 'latin1');
  if (/^multipart\/form-data\b/i.test(type)) {
    const text = body.toString('latin1');
    return Buffer.from(withoutMultipartOverrides(text, multipartParts(text, type) ?? [], names), 'latin1');
  }
  if (/[/+]json\b/i.test(type)) {
    const json = jsonObject(body, names);
    if (json !== undefined) return Buffer.from(withoutJsonOverrides(json.text, json.members, names), 'utf8');
  }
  return body;
}

/** A JSON object body that could name a method, with its top-level members; else undefined. */
function jsonObject(body: Buffer, names: OverrideNames): { text: string; members: NonNullable<ReturnType<typeof jsonMembers>> } | undefined {
  if (!isUtf8(body)) return undefined;
  const text = body.toString('utf8');
  if (!names.mayName(text)) return undefined;
  try {
    JSON.parse(text);
  } catch {
    return undefined; // policy refuses a JSON body that does not parse (request.ts)
  }
  const members = jsonMembers(text);
  return members === undefined ? undefined : { text, members };
}

function hostHeaders(rawHeaders: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if ((rawHeaders[i] as string).length === 4 && (rawHeaders[i] as string).toLowerCase() === 'host') n++;
  return n;
}
