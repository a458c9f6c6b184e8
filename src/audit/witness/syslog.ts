// The `syslog` witness: each signed head as one RFC 5424 message to a syslog receiver (rsyslog,
// syslog-ng, a SIEM), over UDP (one datagram per message) or TCP (RFC 6587 octet-counting
// framing). The message is the witness line; a collector that files it keeps a witness that
// `audit verify --witness` reads as it is (the header before the JSON is skipped).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { hostname as osHostname } from 'node:os';
import { createConnection, isIPv6, type Socket } from 'node:net';
import type { Logger } from '../../telemetry/logger.ts';
import { newStats, witnessLine, type Witness, type WitnessHead, type WitnessStats } from './witness.ts';

/** RFC 5424 section 6.2.1 facility codes. */
export const SYSLOG_FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;

export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;

/** Severity 5: notice (normal but significant). */
const SEVERITY_NOTICE = 5;
const MSGID = 'audit-head';

export interface SyslogWitnessOptions {
  readonly host: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp';
  readonly facility: SyslogFacility;
  readonly appName: string;
  readonly logger: Logger;
}

/** RFC 5424 header fields are printable US-ASCII without spaces; `-` is the nil value. */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** One RFC 5424 message (section 6): HEADER SP STRUCTURED-DATA SP MSG, with no structured data. */
export function syslogMessage(head: WitnessHead, facility: SyslogFacility, host: string, appName: string, procId: number): string {
  const pri = SYSLOG_FACILITIES[facility] * 8 + SEVERITY_NOTICE;
  const timestamp = new Date(head.at).toISOString();
  return `<${pri}>1 ${timestamp} ${headerField(host, 255)} ${headerField(appName, 48)} ${procId} ${MSGID} - ${witnessLine(head)}`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class SyslogWitness implements Witness {
  readonly name: string;
  readonly stats: WitnessStats = newStats();
  readonly #opts: SyslogWitnessOptions;
  readonly #hostname = osHostname();
  #udp: UdpSocket | undefined;
  #tcp: Socket | undefined;
  #sentSeq = 0;
  /** Sends in flight, so that close can wait for them. */
  #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(opts: SyslogWitnessOptions) {
    this.name = `syslog:${opts.transport}:${opts.host}:${opts.port}`;
    this.#opts = opts;
  }

  publish(head: WitnessHead): void {
    if (this.#closed) return;
    if (head.seq <= this.#sentSeq) {
      this.stats.skipped++;
      return;
    }
    this.#sentSeq = head.seq;
    const message = Buffer.from(syslogMessage(head, this.#opts.facility, this.#hostname, this.#opts.appName, process.pid), 'utf8');
    const sent = (this.#opts.transport === 'udp' ? this.#sendUdp(message) : this.#sendTcp(message)).then(
      () => {
        this.stats.delivered++;
      },
      (err: unknown) => {
        this.stats.failed++;
        this.#opts.logger.error({ witness: this.name, seq: head.seq, reason: describe(err) }, 'audit witness: syslog message not sent');
      },
    );
    this.#inFlight.add(sent);
    void sent.finally(() => this.#inFlight.delete(sent));
  }

  #sendUdp(message: Buffer): Promise<void> {
    if (!this.#udp) {
      const socket = createSocket(isIPv6(this.#opts.host) ? 'udp6' : 'udp4');
      // A send error is reported to its callback; this keeps an asynchronous one from crashing.
      socket.on('error', (err) => this.#opts.logger.error({ witness: this.name, reason: describe(err) }, 'audit witness: syslog socket error'));
      socket.unref();
      this.#udp = socket;
    }
    const socket = this.#udp;
    return new Promise((resolve, reject) => socket.send(message, this.#opts.port, this.#opts.host, (err) => (err ? reject(err) : resolve())));
  }

  #sendTcp(message: Buffer): Promise<void> {
    if (!this.#tcp || this.#tcp.destroyed) {
      const socket = createConnection({ host: this.#opts.host, port: this.#opts.port });
      socket.setNoDelay(true);
      // Dropped on error: the next head opens a new connection.
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        if (this.#tcp === socket) this.#tcp = undefined;
      });
      socket.unref();
      this.#tcp = socket;
    }
    const socket = this.#tcp;
    // RFC 6587 section 3.4.1: MSG-LEN SP SYSLOG-MSG.
    const frame = Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
    return new Promise((resolve, reject) => {
      const onClose = (): void => reject(new Error('connection closed before the message was sent'));
      socket.once('close', onClose);
      socket.write(frame, (err) => {
        socket.off('close', onClose);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  async close(deadline: number): Promise<void> {
    this.#closed = true;
    const wait = Math.max(0, deadline - Date.now());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.#inFlight]), new Promise<void>((resolve) => (timer = setTimeout(resolve, wait)))]);
    clearTimeout(timer);
    this.#udp?.close();
    this.#tcp?.end();
  }
}
