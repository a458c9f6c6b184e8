// Where the gateway may fetch identity metadata from. Keys fetched over plain http could be
// swapped by anyone on the path, so http is accepted only for loopback hosts (tests, a local IdP).
import { GatewayError } from '../core/errors.ts';

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** True for an http:// URL on a loopback host: the one case where plain http is allowed. */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/** Parse and check a metadata URL; `where` names the setting in the error. */
export function checkedUrl(text: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new GatewayError('PCS_CONFIG_INVALID', { problems: `${where}: ${text} is not a URL` });
  }
  if (url.protocol !== 'https:' && !isLoopbackHttp(url)) {
    throw new GatewayError('PCS_CONFIG_INVALID', { problems: `${where}: ${text} must use https (plain http is allowed only for loopback hosts)` });
  }
  return url;
}
