// Detector names as a policy writes them. Kept apart from the detectors so the configuration
// schema can validate names without loading any detector code.

/** Built-in detectors, in the priority order the scanner uses when findings overlap. */
export const BUILTIN_DETECTORS = [
  'private_key',
  'jwt',
  'aws_access_key',
  'github_token',
  'slack_token',
  'stripe_key',
  'google_api_key',
  'connection_string',
  'payment_card',
  'iban',
  'us_ssn',
  'email',
  'phone',
  'ip_address',
] as const;

export type BuiltinDetectorName = (typeof BUILTIN_DETECTORS)[number];

/** Groups: one rule enabling several detectors. */
export const DETECTOR_GROUPS: Readonly<Record<string, readonly BuiltinDetectorName[]>> = Object.freeze({
  secrets: Object.freeze(['private_key', 'jwt', 'aws_access_key', 'github_token', 'slack_token', 'stripe_key', 'google_api_key', 'connection_string'] as const),
});

/** Other spellings in use in earlier docs and tests. */
export const DETECTOR_ALIASES: Readonly<Record<string, BuiltinDetectorName>> = Object.freeze({
  card: 'payment_card',
  card_number: 'payment_card',
  ssn: 'us_ssn',
});

/** `detector: custom` with a `name` and a `pattern`. */
export const CUSTOM_DETECTOR = 'custom';

/** Every name a policy may write in `detector:`, for error messages. */
export const KNOWN_DETECTOR_NAMES: readonly string[] = Object.freeze([...BUILTIN_DETECTORS, ...Object.keys(DETECTOR_GROUPS), ...Object.keys(DETECTOR_ALIASES), CUSTOM_DETECTOR]);

/** The built-in detectors a name enables; undefined for `custom` and unknown names. */
export function expandDetectorName(name: string): readonly BuiltinDetectorName[] | undefined {
  if ((BUILTIN_DETECTORS as readonly string[]).includes(name)) return [name as BuiltinDetectorName];
  const alias = DETECTOR_ALIASES[name];
  if (alias !== undefined) return [alias];
  return DETECTOR_GROUPS[name];
}
