// `portcullis reviews` and `portcullis access` against a real gateway's admin API: an agent asks
// for access, approvers list, read and decide; the gateway's refusals (self-approval, agent
// approvers, unknown ids) come back as one line with their code; the token is read only from
// PORTCULLIS_TOKEN and never printed. Spawns are few (each costs about a second) and
// independent ones run in parallel.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatReviewList, formatVoteResult, relative, type ReviewJson } from '../../src/cli/commands/reviews.ts';
import { runCli, type CliResult } from '../support/cli.ts';
import { BASE_CONFIG, startTestGateway, type TestGateway } from '../support/gateway.ts';

const EXTRA = `
connections:
  - { name: app-db, type: postgres, upstream: { host: 127.0.0.1, database: test, user: postgres } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: [app-db]
    rules:
      - { name: held-deletes, match: { sql: { command: [delete] } }, then: review, review: { mode: hold, approvers: { groups: [dba] } } }
      - { match: { sql: { effect: [read] } }, then: allow }
      - { then: deny, reason: agents read }
  - name: agents-jit-ddl
    subjects: { groups: [agents] }
    connections: [app-db]
    access: { approvers: { groups: [dba] }, max_duration: 1h }
    rules:
      - { match: { sql: { command: [create] } }, then: allow }
`;

describe('portcullis reviews and access', () => {
  let t: TestGateway;
  let agent: string;
  let otherAgent: string;
  let dba: string;
  let dba2: string;
  const tokens: string[] = [];

  /** The CLI as the holder of this token; the API URL from PORTCULLIS_API unless args say otherwise. */
  const cli = async (token: string | undefined, args: string[], env: NodeJS.ProcessEnv = { PORTCULLIS_API: t.url }): Promise<CliResult> => {
    const base = { ...process.env };
    delete base.PORTCULLIS_TOKEN;
    delete base.PORTCULLIS_API;
    const res = await runCli(args, { env: { ...base, ...env, ...(token !== undefined ? { PORTCULLIS_TOKEN: token } : {}) } });
    for (const tok of tokens) assert.ok(!res.stdout.includes(tok) && !res.stderr.includes(tok), `${args.join(' ')} printed a token`);
    return res;
  };
  const api = async (token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${t.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const askAccess = async (reason: string): Promise<string> => {
    const res = await api(agent, 'POST', '/api/v1/access', { connection: 'app-db', duration: '15m', reason });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    return res.json.id as string;
  };

  before(async () => {
    t = await startTestGateway(EXTRA);
    agent = await t.token('agent-bot', ['agents']);
    otherAgent = await t.token('other-bot', ['agents']);
    dba = await t.token('alice', ['dba']);
    dba2 = await t.token('bob', ['dba']);
    tokens.push(agent, otherAgent, dba, dba2);
  });

  after(async () => {
    await t?.stop();
  });

  it('asks for access, lists, shows, refuses the wrong approvers and approves', async () => {
    // What a statement held by the review rule leaves behind (no PostgreSQL needed): two approvers.
    const held = await t.gw.services.reviews.requestAction({
      subject: 'agent-bot',
      connection: 'app-db',
      action: { kind: 'sql', text: '/* reason: drop stale rows */ DELETE FROM items\n  WHERE created < now() - interval \'90 days\' AND archived AND owner_id IN (SELECT id FROM owners WHERE gone)', params: ['x', null] },
      rule: 'agents#0 (held-deletes)',
      review: { mode: 'hold', timeoutSeconds: 600, approvers: { groups: ['dba'], min: 2, allGroups: false }, uses: 1, validForSeconds: 300 },
      reason: 'drop stale rows',
      session: null,
    });
    assert.equal((await api(dba, 'POST', `/api/v1/reviews/${held.id}/approve`, { comment: 'looks right' })).status, 200);

    const asked = await cli(agent, ['access', 'request', 'app-db', '--for', '30m', '--reason', 'create an index']);
    assert.equal(asked.code, 0, asked.stderr);
    const id = /^(r-[0-9a-f]+): agent-bot asks for access to app-db under agents-jit-ddl for 30m \(create an index\)$/m.exec(asked.stdout)?.[1];
    assert.ok(id, asked.stdout);
    assert.match(asked.stdout, /^pending: needs approval by 1 of dba, expires in (24h|23h59m) \(/m);
    assert.match(asked.stdout, new RegExp(`portcullis reviews approve ${id}`));
    assert.match(asked.stdout, new RegExp(`POST ${t.url}/api/v1/reviews/${id}/approve`));

    // The base URL from the configuration's listen.api when neither --api nor PORTCULLIS_API is given.
    const config = join(t.dir, 'client.yaml');
    writeFileSync(config, BASE_CONFIG(t.dir, `{ api: "${new URL(t.url).host}" }`) + EXTRA);
    const [list, shown, self, byAgent, unknown, noToken] = await Promise.all([
      cli(dba, ['reviews', 'list', '--status', 'pending']),
      cli(dba, ['reviews', 'show', id, '--json', '--config', config], {}),
      cli(agent, ['reviews', 'approve', id]),
      cli(otherAgent, ['reviews', 'approve', id, '--api', t.url]),
      cli(dba, ['reviews', 'show', 'r-0000000000']),
      cli(undefined, ['reviews', 'list']),
    ]);

    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^ID\s+KIND\s+STATUS\s+SUBJECT\s+CONNECTION\s+RULE\/POLICY\s+CREATED\s+EXPIRES\s+APPROVALS\s+ACTION$/);
    assert.match(list.stdout, new RegExp(`^${id}\\s+access\\s+pending\\s+agent-bot\\s+app-db\\s+agents-jit-ddl\\s+\\d+s ago\\s+in 23h5\\dm\\s+0/1\\s+access for 30m: create an index$`, 'm'));
    // The held statement: its rule, one approval of two, its text cut to one line of 60 characters.
    const heldLine = lines.find((l) => l.startsWith(held.id)) ?? '';
    assert.match(heldLine, /\saction\s+pending\s+agent-bot\s+app-db\s+agents#0 \(held-deletes\)\s+\d+s ago\s+in 9m\s+1\/2\s+(\/\* reason: drop stale rows \*\/ DELETE FROM items WHERE .*…)$/);
    assert.equal(/\s(\/\*.*…)$/.exec(heldLine)?.[1]?.length, 60);

    assert.equal(shown.code, 0, shown.stderr);
    const review = JSON.parse(shown.stdout) as ReviewJson;
    assert.equal(review.id, id);
    assert.equal(review.kind, 'access');
    assert.equal(review.status, 'pending');
    assert.equal(review.policy, 'agents-jit-ddl');
    assert.equal(review.duration_seconds, 1800);
    assert.equal(review.reason, 'create an index');
    assert.deepEqual(review.approvers, { groups: ['dba'], min: 1, all_groups: false });

    assert.equal(self.code, 1);
    assert.match(self.stderr, new RegExp(`^portcullis: PCS_REVIEW_SELF_APPROVAL: you asked for review ${id}: someone else must decide it\\n$`));
    assert.equal(byAgent.code, 1);
    assert.match(byAgent.stderr, /^portcullis: PCS_REVIEW_AGENT_APPROVER: an agent identity can never approve or deny a review\n$/);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^portcullis: PCS_REVIEW_NOT_FOUND: no review r-0000000000\n$/);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /^portcullis: no token: set PORTCULLIS_TOKEN/);

    const [approved, full] = await Promise.all([cli(dba, ['reviews', 'approve', id, '--comment', 'ok for today']), cli(dba2, ['reviews', 'show', held.id])]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(approved.stdout, `${id} approved by alice (1 of 1)\n`);
    assert.equal((await api(dba, 'GET', `/api/v1/reviews/${id}`)).json.status, 'approved');
    // `show` prints every field, the votes, the whole statement and its parameters.
    assert.equal(full.code, 0, full.stderr);
    for (const re of [/^rule {8}agents#0 \(held-deletes\)$/m, /^mode {8}hold$/m, /^approvals {3}1 of 2$/m, /^reason {6}drop stale rows$/m, /^ {4}\S+Z {2}approve {2}alice \[dba\]: "looks right"$/m, /^action \(sql\)\n {4}\/\* reason: drop stale rows \*\/ DELETE FROM items\n {6}WHERE created/m, /^params {6}\["x",null\]$/m, /^fingerprint [0-9a-f]{64}$/m]) {
      assert.match(full.stdout, re);
    }
  });

  it('denies with a comment and lists the caller\'s own access requests', async () => {
    const id = await askAccess('read the audit table');
    const denied = await cli(dba, ['reviews', 'deny', id, '--comment', 'use the replica']);
    assert.equal(denied.code, 0, denied.stderr);
    assert.equal(denied.stdout, `${id} denied by alice: "use the replica"\n`);
    const shown = await api(dba, 'GET', `/api/v1/reviews/${id}`);
    assert.equal(shown.json.status, 'denied');
    assert.equal(shown.json.comment, 'use the replica');

    await api(otherAgent, 'POST', '/api/v1/access', { connection: 'app-db', duration: '5m' });
    const mine = await cli(agent, ['access', 'list']);
    assert.equal(mine.code, 0, mine.stderr);
    assert.match(mine.stdout, /^ID\s+STATUS\s+CONNECTION\s+POLICY\s+FOR\s+CREATED\s+WHEN\s+DECIDED BY\s+REASON$/m);
    assert.match(mine.stdout, new RegExp(`^${id}\\s+denied\\s+app-db\\s+agents-jit-ddl\\s+15m\\s+\\d+s ago\\s+-\\s+alice\\s+read the audit table$`, 'm'));
    assert.match(mine.stdout, /\sapproved\s+app-db\s+agents-jit-ddl\s+30m\s/);
    assert.doesNotMatch(mine.stdout, /other-bot|\s5m\s/);
  });

  it('access request --wait returns 0 once a dba approves, 1 when denied', async () => {
    const decide = async (vote: 'approve' | 'deny', reason: string): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        const { json } = await api(dba2, 'GET', '/api/v1/reviews?status=pending&kind=access&subject=agent-bot');
        const found = (json.reviews as ReviewJson[]).find((r) => r.reason === reason);
        if (found) {
          const res = await api(dba2, 'POST', `/api/v1/reviews/${found.id}/${vote}`, { comment: `${vote} in parallel` });
          assert.equal(res.status, 200, JSON.stringify(res.json));
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.fail(`no pending request "${reason}"`);
    };
    const [granted, , refused] = await Promise.all([
      cli(agent, ['access', 'request', 'app-db', '--for', '10m', '--reason', 'wait for me', '--wait']),
      decide('approve', 'wait for me'),
      cli(agent, ['access', 'request', 'app-db', '--for', '10m', '--reason', 'deny me', '--wait', '--policy', 'agents-jit-ddl']),
      decide('deny', 'deny me'),
    ]);
    assert.equal(granted.code, 0, granted.stderr);
    assert.match(granted.stderr, /waiting for a decision on r-/);
    assert.match(granted.stdout, /^r-[0-9a-f]+ approved by bob: access to app-db under agents-jit-ddl until \S+Z \(in 9m\): "approve in parallel"$/m);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stdout, /^r-[0-9a-f]+ denied by bob: "deny in parallel"$/m);
  });

  it('formats without the gateway: relative times and two-person approvals', () => {
    const now = 1_700_000_000_000;
    assert.equal(relative(now - 3 * 60_000, now), '3m ago');
    assert.equal(relative(now + 65 * 60_000, now), 'in 1h05m');
    assert.equal(relative(now + 3 * 86_400_000, now), 'in 3d');
    const r = {
      id: 'r-3fa1c2', kind: 'action', status: 'pending', subject: 'ci', connection: 'db', action: { kind: 'sql', text: 'TRUNCATE t', params: null }, fingerprint: 'f',
      rule: 'p#3 (two-person)', reason: null, mode: 'defer', policy: null, duration_seconds: null, approvers: { groups: ['dba', 'security'], min: 2, all_groups: true },
      uses: 1, uses_left: 0, valid_for_seconds: 600, session: null, created_at: now - 1000, expires_at: now + 600_000, decided_at: null, decided_by: null, comment: null, grant_until: null,
      votes: [{ voter: 'alice', vote: 'approve', groups: ['dba'], comment: null, at: now }, { voter: 'bob', vote: 'approve', groups: ['dba'], comment: null, at: now }], url: 'http://x/api/v1/reviews/r-3fa1c2',
    } satisfies ReviewJson;
    assert.equal(formatVoteResult(r, 'approve'), 'r-3fa1c2: 2 of 2 approvals, still pending (needs one from security)\n');
    assert.equal(formatVoteResult({ ...r, approvers: { ...r.approvers, min: 3, all_groups: false } }, 'approve'), 'r-3fa1c2: 2 of 3 approvals, still pending\n');
    assert.match(formatReviewList([r], now), /^r-3fa1c2 {2}action {2}pending {2}ci {7}db {10}p#3 \(two-person\) {2}1s ago {3}in 10m {3}2\/2 {8}TRUNCATE t$/m);
  });
});
