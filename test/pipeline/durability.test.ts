// The durability step every adapter uses: what a session owes is asked for once, with the
// recorder only when something of the request is only in the recording, an early commit is
// waited for with the answer, and nothing is held when nothing is owed or the rule is off.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changesSomething, durabilityOf, RecordsOwed, type DurableCommit } from '../../src/pipeline/durability.ts';
import type { SqlAction } from '../../src/core/action.ts';

function counting(): { commit: DurableCommit; calls: boolean[]; release: () => void } {
  const calls: boolean[] = [];
  let release = (): void => undefined;
  const gate = new Promise<void>((r) => (release = r));
  return { commit: (recording) => (calls.push(recording), gate), calls, release: () => release() };
}

describe('RecordsOwed', () => {
  it('holds nothing when nothing is owed, or when the rule is off', () => {
    const { commit, calls } = counting();
    assert.equal(new RecordsOwed(commit).settle(), undefined);
    assert.deepEqual(calls, []);
    const off = new RecordsOwed(undefined);
    off.owe(true);
    assert.equal(off.settle(), undefined);
  });

  it('asks for the audit commit alone, or with the recorder once anything is only in the recording', () => {
    const { commit, calls } = counting();
    const owed = new RecordsOwed(commit);
    owed.owe(false);
    assert.ok(owed.owing);
    assert.ok(owed.settle());
    assert.equal(owed.owing, false);
    owed.owe(false);
    owed.owe(true);
    owed.owe(false);
    assert.ok(owed.settle());
    assert.deepEqual(calls, [false, true]);
  });

  it('waits for the early commit and the one at the answer, and settles only when both did', async () => {
    const early = counting();
    let atAnswer = (): void => undefined;
    const answerGate = new Promise<void>((r) => (atAnswer = r));
    let n = 0;
    const owed = new RecordsOwed((recording) => (n++ === 0 ? early.commit(recording) : answerGate));
    owed.startEarly();
    owed.startEarly();
    owed.owe(false);
    let settled = false;
    void owed.settle()?.then(() => (settled = true));
    early.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'the commit asked for at the answer is still running');
    atAnswer();
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, true);
    assert.equal(n, 2, 'one early commit, however often it is asked for');
  });
});

describe('durabilityOf and changesSomething', () => {
  const action = (...effects: string[]): SqlAction => ({ kind: 'sql', dialect: 'postgres', text: '', statements: effects.map((effect) => ({ command: 'x', effect, relations: [], functions: [], text: '' })) }) as unknown as SqlAction;
  it('waits for nothing on plain reads, at the commit for what the transaction commits, at once for effects outside it', () => {
    assert.equal(durabilityOf(action('read')), 'none');
    assert.equal(durabilityOf(action('read', 'write')), 'at-commit');
    assert.equal(durabilityOf(action('ddl')), 'at-commit');
    // One statement acting outside the transaction makes the whole request urgent, wherever it stands.
    assert.equal(durabilityOf(action('write', 'admin')), 'now');
    assert.equal(durabilityOf(action('unknown', 'read')), 'now');
    assert.equal(durabilityOf(undefined), 'now');
    assert.equal(changesSomething(action('read')), false);
    assert.equal(changesSomething(action('read', 'write')), true);
    assert.equal(changesSomething(undefined), true);
  });

  it('an urgent debt stays urgent until it is settled, however it is owed after', () => {
    const { commit } = counting();
    const owed = new RecordsOwed(commit);
    owed.owe(false);
    assert.equal(owed.urgent, false);
    owed.owe(false, true);
    owed.owe(true);
    assert.equal(owed.urgent, true);
    assert.ok(owed.settle());
    assert.equal(owed.urgent, false);
    assert.equal(owed.owing, false);
  });
});
