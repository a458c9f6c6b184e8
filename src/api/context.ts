import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Services } from '../runtime/services.ts';

/** What the admin API's routes need from the running gateway. */
export interface ApiContext {
  readonly services: Services;
  readonly metrics: Metrics;
  readonly logger: Logger;
  isShuttingDown(): boolean;
  /** Sees every answer's body as sent (the tests scan them for leaked secrets). */
  readonly onAnswer?: ApiAnswerObserver;
}

export type ApiAnswerObserver = (answer: { readonly method: string; readonly url: string; readonly status: number; readonly body: string }) => void;
