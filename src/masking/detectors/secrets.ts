// Token formats with a fixed, documented prefix: cloud and SaaS credentials. Each pattern is
// a literal prefix then one bounded character class, with boundaries by lookbehind and
// lookahead: a failed candidate costs at most its bounded length, so scanning stays linear.
// Partial keeps the prefix (which service) and never any of the secret part.
import { REDACTED } from '../maskers.ts';
import { FLAG, type Detector, type SpanSink, type TextProfile } from '../types.ts';

function regexDetector(name: string, pattern: RegExp, prefixLength: (match: string) => number, wants: (p: TextProfile) => boolean): Detector {
  const re = new RegExp(pattern.source, 'g');
  return {
    name,
    wants,
    find(text: string, sink: SpanSink): void {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) sink.add(m.index, m.index + m[0].length);
    },
    partial: (match) => match.slice(0, prefixLength(match)) + REDACTED,
  };
}

const fixed = (n: number) => (): number => n;

/** AWS access key ids: AKIA (long-term) and ASIA (temporary), then 16 uppercase/digits. */
export const awsAccessKeyDetector = regexDetector(
  'aws_access_key',
  /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/,
  fixed(4),
  (p) => p.upper >= 4 && p.length >= 20,
);

/** GitHub tokens: ghp_ (classic), gho_ (OAuth), ghu_/ghs_ (app), ghr_ (refresh), github_pat_. */
export const githubTokenDetector = regexDetector(
  'github_token',
  /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])/,
  (m) => (m.startsWith('github_pat_') ? 11 : 4),
  (p) => (p.flags & FLAG.underscore) !== 0 && p.length >= 33,
);

/** Slack tokens: xoxa-, xoxb- (bot), xoxp- (user), xoxr- (refresh), xoxs-. */
export const slackTokenDetector = regexDetector(
  'slack_token',
  /(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,250}/,
  fixed(5),
  (p) => (p.flags & FLAG.dash) !== 0 && p.length >= 15,
);

/** Stripe secret and restricted keys, live and test. Publishable keys (pk_) are public. */
export const stripeKeyDetector = regexDetector(
  'stripe_key',
  /(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{10,247}(?![A-Za-z0-9])/,
  (m) => m.indexOf('_', 3) + 1,
  (p) => (p.flags & FLAG.underscore) !== 0 && p.length >= 18,
);

/** Google API keys: AIza and 35 more characters. */
export const googleApiKeyDetector = regexDetector(
  'google_api_key',
  /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/,
  fixed(4),
  (p) => p.upper >= 2 && p.length >= 39,
);
