// Structured JSON logs (pino). Every line passes through the secret scrubber, so a secret that
// some code path logs by mistake comes out as [REDACTED] rather than in clear.
import { pino, type Logger, type DestinationStream } from 'pino';
import { scrubSecrets } from '../config/secrets.ts';

export type { Logger };

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'portcullis' },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { streamWrite: (line: string) => scrubSecrets(line) },
      redact: { paths: ['password', '*.password', 'token', '*.token', 'secret', '*.secret', 'authorization', '*.authorization', 'headers.authorization'], censor: '[REDACTED]' },
    },
    destination ?? pino.destination({ dest: 2, sync: false }),
  );
}
