// Builds the witnesses named by `audit.witness`. A file witness that cannot be opened stops the
// start (PCS_AUDIT_WITNESS_UNAVAILABLE): a gateway configured to keep its head outside the store
// must not run silently without it. Webhook and syslog receivers may be down at start; their
// failures are logged and counted as they happen. File paths are absolute already (config/load.ts).
import type { Config } from '../../config/schema.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { FileWitness } from './file.ts';
import { SyslogWitness } from './syslog.ts';
import { WebhookWitness } from './webhook.ts';
import type { Witness } from './witness.ts';

export async function openWitnesses(configs: Config['audit']['witness'], logger: Logger): Promise<Witness[]> {
  const log = logger.child({ component: 'audit-witness' });
  const witnesses: Witness[] = [];
  try {
    for (const c of configs) {
      switch (c.type) {
        case 'file':
          witnesses.push(await FileWitness.open(c.path, log));
          break;
        case 'webhook':
          witnesses.push(new WebhookWitness({ url: c.url, timeoutMs: Math.round(c.timeout * 1000), retries: c.retries, headers: c.headers, logger: log }));
          break;
        case 'syslog': {
          const colon = c.address.lastIndexOf(':');
          const host = c.address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
          witnesses.push(new SyslogWitness({ host, port: Number(c.address.slice(colon + 1)), transport: c.transport, facility: c.facility, appName: c.app_name, logger: log }));
          break;
        }
      }
    }
  } catch (err) {
    await Promise.all(witnesses.map((w) => w.close(Date.now())));
    throw err;
  }
  return witnesses;
}
