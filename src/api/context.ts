import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Services } from '../runtime/services.ts';

/** What the admin API's routes need from the running gateway. */
export interface ApiContext {
  readonly services: Services;
  readonly metrics: Metrics;
  readonly logger: Logger;
  isShuttingDown(): boolean;
}
