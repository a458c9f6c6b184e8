// Shared plumbing of the CLI commands: loading the configuration, opening services, and
// turning errors into one clear line (never a stack trace) and an exit code.
import { userInfo } from 'node:os';
import { ConfigError, DEFAULT_CONFIG_PATH, formatProblem, loadConfig, type LoadedConfig } from '../config/load.ts';
import { isGatewayError } from '../core/errors.ts';
import { createLogger } from '../telemetry/logger.ts';
import { openServices, type Services } from '../runtime/services.ts';

export const EXIT = { ok: 0, failure: 1, usage: 2, config: 3 } as const;

export class CliExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

export function loadOrExit(file: string | undefined): LoadedConfig {
  return loadConfig(file ?? DEFAULT_CONFIG_PATH);
}

export async function withServices<T>(configFile: string | undefined, fn: (services: Services, loaded: LoadedConfig) => Promise<T>): Promise<T> {
  const loaded = loadOrExit(configFile);
  const services = await openServices(loaded.config, createLogger(process.env.PORTCULLIS_LOG_LEVEL ?? 'warn'));
  try {
    return await fn(services, loaded);
  } finally {
    await services.close();
  }
}

/** Print an error the way a user wants to read it; returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof CliExit) return err.code;
  if (err instanceof ConfigError) {
    process.stderr.write(`portcullis: configuration ${err.file} is invalid:\n${err.problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}\n`);
    return EXIT.config;
  }
  if (isGatewayError(err)) {
    process.stderr.write(`portcullis: ${err.code}: ${err.message}\n`);
    return EXIT.failure;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`portcullis: unexpected error: ${message}\n`);
  return EXIT.failure;
}

export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Enter the secret, then Ctrl-D:\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export const configOption = ['-c, --config <file>', `configuration file (default: the embedded ${DEFAULT_CONFIG_PATH.split('/').slice(-2).join('/')})`] as const;

/** commander accumulator for repeatable options (`--group a --group b`). */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];
