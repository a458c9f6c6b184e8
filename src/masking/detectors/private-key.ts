// PEM private keys: `-----BEGIN <label>-----` where the label ends in PRIVATE KEY (RSA, EC,
// DSA, OPENSSH, ENCRYPTED, plain PKCS#8) or is a PGP private key block, through the
// matching END line. A block without its END line (a truncated value) is masked to the end
// of the value: half a key is still a secret.
import type { Detector, SpanSink, TextProfile } from '../types.ts';

const BEGIN = '-----BEGIN ';
const DASHES = '-----';
const MAX_LABEL = 40;

function isPrivateLabel(label: string): boolean {
  return label.endsWith('PRIVATE KEY') || label === 'PGP PRIVATE KEY BLOCK';
}

function find(text: string, sink: SpanSink): void {
  let at = text.indexOf(BEGIN);
  while (at !== -1) {
    const labelStart = at + BEGIN.length;
    const labelEnd = text.indexOf(DASHES, labelStart);
    let next = labelStart;
    if (labelEnd !== -1 && labelEnd - labelStart <= MAX_LABEL) {
      const label = text.slice(labelStart, labelEnd);
      if (isPrivateLabel(label)) {
        const endLine = `-----END ${label}-----`;
        const endAt = text.indexOf(endLine, labelEnd + DASHES.length);
        const end = endAt === -1 ? text.length : endAt + endLine.length;
        sink.add(at, end);
        next = end;
      }
    }
    at = text.indexOf(BEGIN, next);
  }
}

/** The BEGIN and END lines stay (the kind of key shows), the key material goes. */
function partial(match: string): string {
  const headerEnd = match.indexOf(DASHES, BEGIN.length) + DASHES.length;
  const endAt = match.lastIndexOf('-----END ');
  const footer = endAt > headerEnd ? match.slice(endAt) : '';
  return `${match.slice(0, headerEnd)}\n****\n${footer}`.trimEnd();
}

export const privateKeyDetector: Detector = {
  name: 'private_key',
  wants: (p: TextProfile) => p.upper >= 15 && p.length >= 30,
  find,
  partial,
};
