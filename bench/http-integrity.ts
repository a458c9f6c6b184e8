// Micro-benchmark of what every HTTP request now pays before policy: reading the request
// target (target.ts) and the override checks (request-integrity.ts), in ns per request.
// Run: node --import tsx bench/http-integrity.ts
import type { IncomingHttpHeaders } from 'node:http';
import { checkRequest, type IntegritySettings } from '../src/protocols/http/request-integrity.ts';
import { readTarget } from '../src/policy/http-target.ts';

const defaults: IntegritySettings = { method_overrides: 'refuse', path_overrides: 'refuse', non_canonical_paths: 'refuse', method_override_params: ['_method'], method_override_headers: ['x-http-method-override', 'x-http-method', 'x-method-override'], case_insensitive_paths: false };
const headers: IncomingHttpHeaders = { host: 'api.gateway.local', authorization: 'Bearer x', accept: 'application/json', 'user-agent': 'curl/8', 'content-type': 'application/json', 'x-request-id': 'abc' };
const rawHeaders = Object.entries(headers).flatMap(([k, v]) => [k, String(v)]);
const json = Buffer.from(JSON.stringify({ amount: 5, to: 'acme', items: Array.from({ length: 20 }, (_, i) => ({ id: i, sku: `sku-${i}` })) }));
const form = Buffer.from('amount=5&to=acme&note=hello+world&ref=%C3%A9t%C3%A9');

function bench(label: string, fn: () => unknown): void {
  const n = 300_000;
  for (let i = 0; i < 20_000; i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  console.log(`${label.padEnd(58)} ${(Number(process.hrtime.bigint() - start) / n).toFixed(0).padStart(6)} ns`);
}

bench('readTarget /billing/v1/customers/42/invoices?limit=10', () => readTarget('/billing/v1/customers/42/invoices?limit=10'));
bench('readTarget with escapes /files/r%C3%A9sum%C3%A9%20v2.pdf', () => readTarget('/files/r%C3%A9sum%C3%A9%20v2.pdf'));
bench('readTarget non-canonical /a/./b/../c//d%7e', () => readTarget('/a/./b/../c//d%7e'));
const target = readTarget('/billing/v1/customers/42/invoices?limit=10');
bench('checkRequest GET, no body', () => checkRequest('api', defaults, target, { method: 'GET', headers, rawHeaders, body: Buffer.alloc(0), sniConnection: undefined }));
bench(`checkRequest POST, JSON body (${json.length} B)`, () => checkRequest('api', defaults, target, { method: 'POST', headers, rawHeaders, body: json, sniConnection: undefined }));
const formHeaders = { ...headers, 'content-type': 'application/x-www-form-urlencoded' };
bench(`checkRequest POST, form body (${form.length} B)`, () => checkRequest('api', defaults, target, { method: 'POST', headers: formHeaders, rawHeaders, body: form, sniConnection: undefined }));
