// HTTP path patterns for `match.http.path`, compiled to one RegExp each:
//   /customers/:id    `:name` is exactly one non-empty segment
//   /admin/**         `**` is any number of segments, none included (`/admin` matches too)
//   /files/*.csv      `*` is any run inside one segment, `?` one character
// A trailing slash on the request path is ignored. Paths are compared as the adapter
// normalised them (percent-decoding and dot segments are the adapter's job, see docs/policy.md).
import { escapeRegExp, type Matcher } from '../util/glob.ts';

function segmentSource(segment: string): string {
  if (segment.startsWith(':') && segment.length > 1) return '[^/]+';
  let source = '';
  for (const ch of segment) {
    source += ch === '*' ? '[^/]*' : ch === '?' ? '[^/]' : escapeRegExp(ch);
  }
  return source;
}

export function compilePathPattern(pattern: string): Matcher {
  if (pattern === '/**' || pattern === '**') return () => true;
  const segments = pattern.replace(/^\/+/, '').replace(/\/+$/, '').split('/');
  let source = '';
  for (const segment of segments) {
    if (segment === '') continue;
    source += segment === '**' ? '(?:/[^/]*)*' : `/${segmentSource(segment)}`;
  }
  const re = new RegExp(`^${source}/?$`);
  return (path) => re.test(path);
}
