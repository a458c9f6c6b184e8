// The agent-side TLS identity of the PostgreSQL listener (pipeline/listener-tls.ts, shared
// with the MySQL listener).
import type { SecureContext } from 'node:tls';
import { loadListenerTls, type TlsFiles } from '../../pipeline/listener-tls.ts';
import type { Logger } from '../../telemetry/logger.ts';

export type { TlsFiles };

/** Loads the configured pair, or generates (first start) and loads the self-signed one. */
export function loadTlsContext(configured: TlsFiles | undefined, dataDir: string, logger: Logger): Promise<SecureContext> {
  return loadListenerTls(configured, dataDir, logger, 'postgres');
}
