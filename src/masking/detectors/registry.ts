// The built-in detectors by name, and the resolution of a policy's detector names (aliases,
// groups, custom) into detectors.
import type { Detector } from '../types.ts';
import { connectionStringDetector } from './connection-string.ts';
import { customDetector } from './custom.ts';
import { emailDetector } from './email.ts';
import { ibanDetector } from './iban.ts';
import { ipAddressDetector } from './ip-address.ts';
import { jwtDetector } from './jwt.ts';
import { CUSTOM_DETECTOR, expandDetectorName, KNOWN_DETECTOR_NAMES, type BuiltinDetectorName } from './names.ts';
import { paymentCardDetector } from './payment-card.ts';
import { phoneDetector } from './phone.ts';
import { privateKeyDetector } from './private-key.ts';
import { awsAccessKeyDetector, githubTokenDetector, googleApiKeyDetector, slackTokenDetector, stripeKeyDetector } from './secrets.ts';
import { usSsnDetector } from './us-ssn.ts';

export const BUILTIN: Readonly<Record<BuiltinDetectorName, Detector>> = Object.freeze({
  private_key: privateKeyDetector,
  jwt: jwtDetector,
  aws_access_key: awsAccessKeyDetector,
  github_token: githubTokenDetector,
  slack_token: slackTokenDetector,
  stripe_key: stripeKeyDetector,
  google_api_key: googleApiKeyDetector,
  connection_string: connectionStringDetector,
  payment_card: paymentCardDetector,
  iban: ibanDetector,
  us_ssn: usSsnDetector,
  email: emailDetector,
  phone: phoneDetector,
  ip_address: ipAddressDetector,
});

export interface DetectorRef {
  readonly detector: string;
  readonly name?: string;
  readonly pattern?: string;
}

/**
 * The detectors a rule enables: one for a built-in name or alias, several for a group, a
 * compiled one for `custom`. Throws on an unknown name or an incomplete custom rule, which
 * the configuration schema already rejects: reaching it means a rule built by hand.
 */
export function resolveDetectors(ref: DetectorRef): readonly Detector[] {
  if (ref.detector === CUSTOM_DETECTOR) {
    if (ref.name === undefined || ref.pattern === undefined) throw new TypeError('a custom detector needs a name and a pattern');
    return [customDetector(ref.name, ref.pattern)];
  }
  const names = expandDetectorName(ref.detector);
  if (names === undefined) throw new TypeError(`unknown detector ${ref.detector} (known: ${KNOWN_DETECTOR_NAMES.join(', ')})`);
  return names.map((n) => BUILTIN[n]);
}
