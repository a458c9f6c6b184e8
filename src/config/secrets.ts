// Every secret value the process comes to know (resolved config references, decrypted
// credentials) is registered here so the logger can scrub it from any line as a last line of
// defence: code should never log a secret, and this makes a mistake visible as [REDACTED].

const known = new Set<string>();

/** Shorter values would redact ordinary words; such secrets are still never logged on purpose. */
const MIN_LENGTH = 6;

export function registerSecret(value: string): void {
  if (value.length >= MIN_LENGTH) known.add(value);
}

export function scrubSecrets(text: string): string {
  if (known.size === 0) return text;
  let out = text;
  for (const s of known) if (out.includes(s)) out = out.split(s).join('[REDACTED]');
  return out;
}
