// Assembles and runs the gateway: services, the admin API and the protocol listeners; and
// takes it down gracefully (stop accepting, let sessions finish up to the grace period, flush
// the audit log with a final signed checkpoint).
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { LoadedConfig } from '../config/load.ts';
import { stripSecrets } from '../connections/public-view.ts';
import { syncConnections } from '../connections/sync.ts';
import type { ApiAnswerObserver } from '../api/context.ts';
import { buildApi } from '../api/server.ts';
import { Gate } from '../pipeline/gate.ts';
import { listenFailed, splitHostPort } from '../pipeline/listen.ts';
import { makeDialer } from '../pipeline/dialer.ts';
import { loadListenerTls } from '../pipeline/listener-tls.ts';
import { GatewayError } from '../core/errors.ts';
import { startRelayListener } from '../relay/listener.ts';
import type { AdapterExecutors, ProtocolAdapter, RunningListener } from '../pipeline/adapter.ts';
import type { CommandExecutor, Executors, HttpExecutor, SqlExecutor } from '../pipeline/executor.ts';
import { postgresAdapter } from '../protocols/postgres/adapter.ts';
import { mysqlAdapter } from '../protocols/mysql/adapter.ts';
import { httpAdapter } from '../protocols/http/adapter.ts';
import { sshAdapter } from '../protocols/ssh/adapter.ts';
import { Recorder } from '../recorder/recorder.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import type { EmbeddedPostgres } from './embedded-postgres.ts';
import type { Logger } from '../telemetry/logger.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { openServices, type Services } from './services.ts';
import { durableCommit } from '../pipeline/durability.ts';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface RunningGateway {
  readonly services: Services;
  readonly metrics: Metrics;
  /** What protocol adapters call: login and decide, audited. */
  readonly gate: Gate;
  readonly recorder: Recorder;
  /** What in-process callers (MCP) run SQL, commands and HTTP requests through. */
  readonly executors: Executors;
  /** Running protocol listeners by protocol. */
  readonly listeners: ReadonlyMap<string, RunningListener>;
  readonly api: Endpoint & { readonly url: string };
  /** Protocols named under `listen` that this build has no adapter for yet. */
  readonly unavailable: readonly string[];
  /** The embedded demo PostgreSQL (PGlite), when `embedded_postgres` is configured. */
  readonly embeddedPostgres: Endpoint | undefined;
  stop(reason: string): Promise<void>;
}

/** Adapters that exist in this build, by protocol. */
const ADAPTERS: ReadonlyMap<string, ProtocolAdapter> = new Map([
  [postgresAdapter.protocol, postgresAdapter],
  [mysqlAdapter.protocol, mysqlAdapter],
  [httpAdapter.protocol, httpAdapter],
  [sshAdapter.protocol, sshAdapter],
]);

/** Kept for callers of the runtime module (tests, the CLI). */
export const parseHostPort = splitHostPort;

const CONFIG_HASH_KEY = 'config.hash';

export interface GatewayOptions {
  /** Sees every admin API answer (the test suite scans them for leaked secrets). */
  readonly onApiAnswer?: ApiAnswerObserver;
}

export async function startGateway(loaded: LoadedConfig, logger: Logger, opts: GatewayOptions = {}): Promise<RunningGateway> {
  const { config } = loaded;
  const services = await openServices(config, logger);
  const metrics = new Metrics();
  metrics.observeAuditWitnesses(() => services.audit.witnessStats());
  const gate = new Gate({ policies: () => services.policies, authenticator: services.authenticator, audit: services.audit, metrics, logger, grants: services.reviews, keys: services.sshKeys });
  const recorder = Recorder.open({ store: services.store, logger: logger.child({ component: 'recorder' }) });
  const listeners = new Map<string, RunningListener>();
  const executorSets: AdapterExecutors[] = [];
  let embedded: EmbeddedPostgres | undefined;
  let shuttingDown = false;
  let api: FastifyInstance | undefined;
  try {
    await auditConfigChange(services, loaded.file);
    await syncConnections(services.store, config.connections, services.audit, 'system');

    api = buildApi({ services, metrics, logger, isShuttingDown: () => shuttingDown, ...(opts.onApiAnswer !== undefined ? { onAnswer: opts.onApiAnswer } : {}) });
    const apiEndpoint = parseHostPort(config.listen.api);
    try {
      await api.listen({ host: apiEndpoint.host, port: apiEndpoint.port });
    } catch (err) {
      throw listenFailed(err, config.listen.api);
    }
    const address = api.server.address();
    const port = typeof address === 'object' && address ? address.port : apiEndpoint.port;
    if (config.reviews.url === undefined) services.reviews.baseUrl = `http://${apiEndpoint.host.includes(':') ? `[${apiEndpoint.host}]` : apiEndpoint.host}:${port}`;

    // The demo database first, so that a listener's first session finds it up.
    if (config.embedded_postgres) {
      // Imported only when configured: PGlite costs some 40 MiB and half a second to load.
      const { startEmbeddedPostgres } = await import('./embedded-postgres.ts');
      embedded = await startEmbeddedPostgres(config.embedded_postgres, logger);
    }

    // Relays before the listeners that dial through them; without listen.relay every relay is offline.
    if (config.listen.relay !== undefined) {
      const tls = await loadListenerTls(config.protocols.relay?.tls, config.data_dir, logger, 'relay');
      listeners.set('relay', await startRelayListener({ listen: config.listen.relay, tls, relays: services.relays, audit: services.audit, logger: logger.child({ component: 'relay' }) }));
    }
    const dialer = makeDialer(config.listen.relay !== undefined ? services.relays.registry : undefined, (t) => new GatewayError('PCS_RELAY_OFFLINE', { relay: t.relay ?? '', connection: t.connection }));

    // Executors first: a listener that serves calls on other connections (MCP) uses them.
    const base = { config, gate, credentials: services.credentials, masks: services.masks, reviews: services.reviews, recorder, durable: durableCommit(gate, recorder), metrics, dialer };
    const sql = new Map<'postgres' | 'mysql', SqlExecutor>();
    let command: CommandExecutor | undefined;
    let http: HttpExecutor | undefined;
    for (const adapter of ADAPTERS.values()) {
      // Only for connection types the configuration has.
      if (adapter.executors === undefined || !config.connections.some((c) => c.type === adapter.protocol)) continue;
      const made = await adapter.executors({ ...base, logger: logger.child({ component: `${adapter.protocol}-executor` }) });
      executorSets.push(made);
      if (made.sql !== undefined && (adapter.protocol === 'postgres' || adapter.protocol === 'mysql')) sql.set(adapter.protocol, made.sql);
      command ??= made.command;
      http ??= made.http;
    }
    const executors: Executors = { sql, command, http };

    const unavailable: string[] = [];
    for (const protocol of ['postgres', 'mysql', 'ssh', 'http'] as const) {
      const listen = config.listen[protocol];
      if (listen === undefined) continue;
      const adapter = ADAPTERS.get(protocol);
      if (!adapter) {
        unavailable.push(protocol);
        logger.warn({ protocol, listen }, `listen.${protocol} is set, but this build has no ${protocol} adapter yet; not listening`);
        continue;
      }
      listeners.set(protocol, await adapter.start({ ...base, listen, executors, logger: logger.child({ component: protocol }) }));
    }

    await services.audit.append({ type: 'gateway.started', actor: 'system', data: { config: loaded.file, api: `${apiEndpoint.host}:${port}`, pid: process.pid } });
    const runningApi = api;
    let stopping: Promise<void> | undefined;
    return {
      services,
      metrics,
      gate,
      recorder,
      executors,
      listeners,
      api: { host: apiEndpoint.host, port, url: `http://${apiEndpoint.host.includes(':') ? `[${apiEndpoint.host}]` : apiEndpoint.host}:${port}` },
      unavailable,
      embeddedPostgres: embedded ? { host: embedded.host, port: embedded.port } : undefined,
      stop(reason: string) {
        stopping ??= (async () => {
          shuttingDown = true;
          logger.info({ reason, grace_s: config.shutdown.grace }, 'shutting down');
          const deadline = Date.now() + config.shutdown.grace * 1000;
          await Promise.all([
            withDeadline(runningApi.close(), config.shutdown.grace * 1000, () => runningApi.server.closeAllConnections()),
            ...[...listeners.values()].map((l) => l.close(deadline)),
            ...executorSets.map((e) => e.close(deadline)),
          ]);
          await embedded?.close();
          await recorder.close();
          await services.audit.append({ type: 'gateway.stopped', actor: 'system', data: { reason } });
          await services.close();
          logger.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await Promise.all([...listeners.values(), ...executorSets].map((l) => l.close(Date.now())));
    await embedded?.close();
    await api?.close();
    await recorder.close();
    await services.close();
    throw err;
  }
}

/** A config change between two starts is an audit event (the hash covers no secret). */
async function auditConfigChange(services: Services, file: string): Promise<void> {
  const hash = createHash('sha256').update(canonicalJson(stripSecrets(services.config))).digest('hex');
  const previous = await services.store.meta.get(CONFIG_HASH_KEY);
  if (previous === hash) return;
  await services.store.meta.put(CONFIG_HASH_KEY, hash);
  await services.audit.append({ type: 'config.changed', actor: 'system', data: { file, hash, previous: previous ?? null } });
}

async function withDeadline(work: Promise<unknown>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, ms);
  });
  try {
    await Promise.race([work.then(() => undefined), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
