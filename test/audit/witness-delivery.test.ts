// The webhook and syslog witnesses against real receivers on loopback: what arrives is a
// witness line `audit verify --witness` can read, failures are retried with backoff and
// counted, a newer head replaces one still waiting, and close gives up at its deadline.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebhookWitness } from '../../src/audit/witness/webhook.ts';
import { SyslogWitness } from '../../src/audit/witness/syslog.ts';
import { parseWitnessLine, type WitnessHead } from '../../src/audit/witness/witness.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

const logger = createLogger('silent');

function head(seq: number): WitnessHead {
  return { seq, hash: seq.toString(16).padStart(64, '0'), at: 1_700_000_000_000 + seq, keyId: 'k1', signature: `sig-${seq}` };
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An HTTP receiver answering with the statuses given, in order (the last one repeats). */
async function receiver(statuses: number[], delayMs = 0): Promise<{ url: string; bodies: string[]; headers: IncomingMessage['headers'][]; close(): Promise<void> }> {
  const bodies: string[] = [];
  const headers: IncomingMessage['headers'][] = [];
  let n = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      headers.push(req.headers);
      const status = statuses[Math.min(n++, statuses.length - 1)] ?? 200;
      setTimeout(() => res.writeHead(status).end(), delayMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/heads?token=t`,
    bodies,
    headers,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

type Receiver = Awaited<ReturnType<typeof receiver>>;

/** A webhook witness posting to a receiver with the statuses given; both are closed after `body`. */
async function withWebhook(statuses: number[], opts: { delayMs?: number; timeoutMs?: number; retries: number; headers?: Record<string, string> }, body: (w: WebhookWitness, rx: Receiver) => Promise<void>): Promise<void> {
  const rx = await receiver(statuses, opts.delayMs ?? 0);
  const w = new WebhookWitness({ url: rx.url, timeoutMs: opts.timeoutMs ?? 2000, retries: opts.retries, headers: opts.headers ?? {}, logger });
  try {
    await body(w, rx);
  } finally {
    await w.close(Date.now() + 1000);
    await rx.close();
  }
}

const seqs = (rx: Receiver): number[] => rx.bodies.map((b) => (parseWitnessLine(b) as WitnessHead).seq);

describe('webhook witness', () => {
  it('posts the witness line with the configured headers; the name shows the host only', async () => {
    await withWebhook([200], { retries: 0, headers: { authorization: 'Bearer r' } }, async (w, rx) => {
      assert.ok(!w.name.includes('token'), w.name);
      w.publish(head(7));
      await until(() => w.stats.delivered === 1);
      assert.deepEqual(parseWitnessLine(rx.bodies[0] ?? ''), head(7));
      assert.equal(rx.headers[0]?.['authorization'], 'Bearer r');
      assert.equal(rx.headers[0]?.['content-type'], 'application/json');
      // A head at or below the one delivered is never sent again.
      w.publish(head(7));
      w.publish(head(3));
      assert.equal(w.stats.skipped, 2);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(rx.bodies.length, 1);
    });
  });

  it('retries a failing receiver and counts the retries', async () => {
    await withWebhook([503, 500, 200], { retries: 3 }, async (w, rx) => {
      w.publish(head(1));
      await until(() => w.stats.delivered === 1);
      assert.deepEqual(seqs(rx), [1, 1, 1]);
      assert.equal(w.stats.retried, 2);
      assert.equal(w.stats.failed, 0);
    });
  });

  it('gives up after the last retry and counts a failure', async () => {
    await withWebhook([500], { retries: 1 }, async (w, rx) => {
      w.publish(head(2));
      await until(() => w.stats.failed === 1);
      assert.equal(rx.bodies.length, 2);
      assert.equal(w.stats.delivered, 0);
    });
  });

  it('a head published while one is in flight replaces any head still waiting', async () => {
    await withWebhook([200], { retries: 0, delayMs: 150 }, async (w, rx) => {
      w.publish(head(1));
      w.publish(head(2)); // waits behind 1
      w.publish(head(3)); // replaces 2
      await until(() => w.stats.delivered === 2);
      assert.deepEqual(seqs(rx), [1, 3]);
      assert.equal(w.stats.skipped, 1);
    });
  });

  it('times out an attempt that hangs, and close gives up at its deadline and sends nothing after', async () => {
    await withWebhook([200], { retries: 5, delayMs: 5000, timeoutMs: 100 }, async (w, rx) => {
      w.publish(head(1));
      await until(() => w.stats.retried >= 1);
      const started = Date.now();
      await w.close(Date.now() + 200);
      assert.ok(Date.now() - started < 2000, `close took ${Date.now() - started} ms`);
      assert.equal(w.stats.delivered, 0);
      const before = rx.bodies.length;
      w.publish(head(2));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rx.bodies.length, before);
    });
  });
});

describe('syslog witness over UDP', () => {
  it('sends one RFC 5424 datagram per head whose message is the witness line', async () => {
    const udp = createSocket('udp4');
    const got: string[] = [];
    udp.on('message', (m) => got.push(m.toString('utf8')));
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
    const { port } = udp.address();
    const w = new SyslogWitness({ host: '127.0.0.1', port, transport: 'udp', facility: 'local4', appName: 'portcullis', logger });
    try {
      w.publish(head(11));
      w.publish(head(12));
      await until(() => got.length === 2);
      for (const [i, msg] of got.entries()) {
        // PRI = local4 (20) * 8 + notice (5) = 165, version 1.
        assert.match(msg, /^<165>1 \S+ \S+ portcullis \d+ audit-head - \{/);
        assert.deepEqual(parseWitnessLine(msg), head(11 + i));
      }
      assert.equal(w.stats.delivered, 2);
    } finally {
      await w.close(Date.now() + 1000);
      udp.close();
    }
  });
});
