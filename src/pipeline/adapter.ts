// The contract between the gateway and a protocol adapter (postgres, mysql, ssh, http, mcp).
// An adapter translates wire messages into Actions and decisions back into wire messages; all
// it needs from the rest of the gateway comes through AdapterContext.
import type { Config } from '../config/schema.ts';
import type { MaskPlanner } from '../masking/plan.ts';
import type { ReviewService } from '../reviews/service.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { CredentialStore } from '../vault/credentials.ts';
import type { CommandExecutor, Executors, HttpExecutor, SqlExecutor } from './executor.ts';
import type { Dialer } from './dialer.ts';
import type { Gate } from './gate.ts';
import type { Recorder } from '../recorder/recorder.ts';
import type { DurableCommit } from './durability.ts';

export interface AdapterContext {
  readonly config: Config;
  /** The address this adapter listens on (`listen.<protocol>`), `host:port`. */
  readonly listen: string;
  readonly gate: Gate;
  readonly credentials: CredentialStore;
  /** Mask plans for decisions' masks (one planner per process: the hash key is the deployment's). */
  readonly masks: MaskPlanner;
  /** Reviews: held and deferred actions, approvals to use. */
  readonly reviews: ReviewService;
  readonly recorder: Recorder;
  /** The commit of what the audit log and the recorder hold: what an answer that may have changed something waits for (durability.ts). */
  readonly durable: DurableCommit;
  /** Every adapter's executors, for adapters that serve calls on other connections (MCP). */
  readonly executors: Executors;
  readonly metrics: Metrics;
  /** How upstreams are reached: directly, or through a relay (docs/relay.md). */
  readonly dialer: Dialer;
  readonly logger: Logger;
}

export interface RunningListener {
  /** The bound address (port resolved when 0 was asked). */
  readonly host: string;
  readonly port: number;
  /** Sessions currently open. */
  activeSessions(): number;
  /**
   * Stop accepting, let open sessions finish until `deadline` (epoch ms), then close what is
   * left; resolves when every session has ended and its recording is flushed to the recorder.
   */
  close(deadline: number): Promise<void>;
}

/** What an executor needs: the adapter's context without a listen address (it serves in-process callers). */
export type ExecutorContext = Omit<AdapterContext, 'listen' | 'executors'>;

/** An adapter's executors (executor.ts), whether or not its listener is configured. */
export interface AdapterExecutors {
  readonly sql?: SqlExecutor;
  readonly command?: CommandExecutor;
  readonly http?: HttpExecutor;
  /** Ends what the executors hold open by `deadline` (epoch ms), as a listener's close does. */
  close(deadline: number): Promise<void>;
}

export interface ProtocolAdapter {
  readonly protocol: 'postgres' | 'mysql' | 'ssh' | 'http' | 'mcp';
  start(ctx: AdapterContext): Promise<RunningListener>;
  /** Executors over the adapter's own session machinery, for in-process callers (MCP). */
  executors?(ctx: ExecutorContext): Promise<AdapterExecutors>;
}
