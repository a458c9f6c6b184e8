// The agent-side TLS identity of a database listener: the configured cert and key, or a
// self-signed pair generated once under data_dir/tls (Node cannot create certificates; openssl
// can). One per protocol (`postgres-cert.pem`, `mysql-cert.pem`).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { promisify } from 'node:util';
import type { Logger } from '../telemetry/logger.ts';

const run = promisify(execFile);

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/** Loads the configured pair, or generates (first start) and loads the self-signed one named after `protocol`. */
export async function loadListenerTls(configured: TlsFiles | undefined, dataDir: string, logger: Logger, protocol: string): Promise<SecureContext> {
  const files = configured ? { cert: resolve(configured.cert), key: resolve(configured.key) } : await selfSigned(dataDir, logger, protocol);
  return createSecureContext({ cert: readFileSync(files.cert), key: readFileSync(files.key), minVersion: 'TLSv1.2' });
}

async function selfSigned(dataDir: string, logger: Logger, protocol: string): Promise<TlsFiles> {
  const dir = join(dataDir, 'tls');
  const files = { cert: join(dir, `${protocol}-cert.pem`), key: join(dir, `${protocol}-key.pem`) };
  if (existsSync(files.cert) && existsSync(files.key)) return files;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // P-256 keeps the handshake cheap; ten years because nobody verifies a self-signed cert by date.
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650', '-subj', '/CN=portcullis', '-keyout', files.key, '-out', files.cert], { timeout: 30_000 });
  logger.info({ cert: files.cert, protocol }, 'generated a self-signed TLS certificate for a listener');
  return files;
}
