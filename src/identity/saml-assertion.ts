// Reads the few things the exchange needs from SAML documents parsed by node-saml's xml2js
// settings (prefixes stripped, text under `_`, attributes under `$`, children as arrays).
import { parseXml2JsFromString } from '@node-saml/node-saml/lib/xml.js';

/** Walk `keys` through an xml2js tree, taking the first element of every array on the way. */
function walk(node: unknown, ...keys: string[]): unknown {
  let cur = node;
  for (const key of keys) {
    if (Array.isArray(cur)) cur = cur[0];
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return Array.isArray(cur) ? cur[0] : cur;
}

const text = (node: unknown): string | undefined => {
  if (typeof node === 'string') return node;
  const t = walk(node, '_');
  return typeof t === 'string' ? t.trim() : undefined;
};

const attr = (node: unknown, name: string): string | undefined => {
  const v = walk(node, '$', name);
  return typeof v === 'string' ? v : undefined;
};

/**
 * The Issuer of an (unverified) response, used only to pick the IdP whose certificate will
 * verify it: the Response's own Issuer, else the Assertion's. Undefined for unparseable XML.
 */
export async function responseIssuer(xml: string): Promise<string | undefined> {
  let doc: unknown;
  try {
    doc = await parseXml2JsFromString(xml);
  } catch {
    return undefined;
  }
  return text(walk(doc, 'Response', 'Issuer')) ?? text(walk(doc, 'Response', 'Assertion', 'Issuer'));
}

export interface AssertionFacts {
  readonly id: string | undefined;
  /** The earliest NotOnOrAfter of Conditions and SubjectConfirmationData, epoch ms. */
  readonly notOnOrAfter: number | undefined;
}

/** Facts from the verified assertion (node-saml's `profile.getAssertion()`). */
export function assertionFacts(parsed: Record<string, unknown> | undefined): AssertionFacts {
  const assertion = walk(parsed, 'Assertion');
  const times = [
    attr(walk(assertion, 'Conditions'), 'NotOnOrAfter'),
    attr(walk(assertion, 'Subject', 'SubjectConfirmation', 'SubjectConfirmationData'), 'NotOnOrAfter'),
  ]
    .filter((t): t is string => t !== undefined)
    .map((t) => Date.parse(t))
    .filter((t) => Number.isFinite(t));
  return { id: attr(assertion, 'ID'), notOnOrAfter: times.length > 0 ? Math.min(...times) : undefined };
}

/** An attribute's values as strings: one value or several; nested structures are ignored. */
export function attributeValues(value: unknown): string[] {
  const values = Array.isArray(value) ? value : [value];
  return values.filter((v): v is string => typeof v === 'string' && v.length > 0);
}
