// The durability rule for HTTP under kill -9 (test/support/kill9.ts): four writers POST one
// item per request through the gateway, which is killed with SIGKILL three times mid-load.
// Every POST a writer got an answer to must have reached the upstream and have its audited
// decision (method and path) in the store the gateway left behind.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { killUnderLoad, storeLeftBehind, writerSetup } from '../../support/kill9.ts';
import { freePort } from '../../support/ports.ts';
import { tempDir } from '../../support/tmp.ts';

const KILLS = 3;

describe('http: no acknowledged change is lost to kill -9', () => {
  let upstream: Server;
  const received = new Set<string>();
  let dir: string;
  let cfg: string;
  let base: string;
  let token: string;

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST' && req.url !== undefined) received.add(req.url);
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const addr = upstream.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    dir = tempDir('pcs-kill9-http-');
    ({ config: cfg, token } = await writerSetup(dir, `{ name: items-api, type: http, upstream: { url: "${url}" } }`, `{ api: "127.0.0.1:0", http: "127.0.0.1:${port}" }`));
  });

  after(async () => {
    await new Promise((r) => upstream.close(r));
  });

  it(`keeps the decision of every answered POST across ${KILLS} kills`, { timeout: 180_000 }, async (t) => {
    const acked: number[] = [];
    let next = 1;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const writer = async (stopped: () => boolean): Promise<void> => {
      while (!stopped()) {
        const id = next++;
        const res = await request(`${base}/items-api/items/${id}`, { method: 'POST', headers, body: '{"n":1}' });
        await res.body.dump();
        if (res.statusCode === 201) acked.push(id);
      }
    };
    await killUnderLoad({
      config: cfg,
      kills: KILLS,
      ready: async () => {
        const res = await request(`${base}/items-api/ready`, { headers });
        await res.body.dump();
      },
      writers: [writer, writer, writer, writer],
    });
    assert.ok(acked.length > 100, `only ${acked.length} answered requests: the load was too light to mean anything`);

    const audited = new Set(storeLeftBehind(dir).decisions.filter((a) => a.method === 'POST').map((a) => a.path));
    const lost = acked.filter((id) => !audited.has(`/items/${id}`));
    t.diagnostic(`${acked.length} answered POSTs over ${KILLS} kills, ${lost.length} without a decision`);
    assert.deepEqual(acked.filter((id) => !received.has(`/items/${id}`)), [], 'every answered POST reached the upstream');
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} of ${acked.length} answered requests have no audited decision`);
  });
});
