// Terminal recording as asciicast v2: the stored rows (coalesced output, UTF-8 kept whole
// across chunks, input, resizes) and the document built back from them (header, order,
// several shells), also through a real recorder and store.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildCast, formatCast, readCast, shellsOf, TerminalRecorder, type CastEvent } from '../../src/recorder/asciicast.ts';
import type { SessionEvent } from '../../src/recorder/reader.ts';
import { Recorder, type SessionRecording } from '../../src/recorder/recorder.ts';
import { captureLogger, tempStore } from './helpers.ts';

/** A recording that keeps its events as the reader would return them (data through JSON). */
function memoryRecording(): SessionRecording & { events: SessionEvent[] } {
  const events: SessionEvent[] = [];
  return {
    id: 's_test',
    events,
    event(kind, data) {
      events.push({ seq: events.length + 1, at: 1_700_000_000_000 + events.length, kind, data: JSON.parse(JSON.stringify(data)) as Record<string, unknown> });
    },
    end() {},
  };
}

/** A hand-driven clock: `at(ms)` sets the time. */
function clock(): { now: () => number; at: (ms: number) => void } {
  let ms = 1000;
  return { now: () => ms, at: (t) => (ms = 1000 + t) };
}

const START = 1_795_651_402_310;

function castRows(events: readonly SessionEvent[]): CastEvent[][] {
  return events.filter((e) => e.kind === 'cast').map((e) => e.data.events as CastEvent[]);
}

describe('terminal recording', () => {
  it('records a start event, then output, input and resizes with their offsets in seconds', () => {
    const rec = memoryRecording();
    const c = clock();
    const term = TerminalRecorder.start(rec, { shell: 1, term: 'xterm-256color', cols: 120, rows: 40 }, { verdict: 'allow' }, { now: c.now, wallClock: () => START });
    c.at(250);
    term.input('ls\r');
    c.at(300.5);
    term.output(Buffer.from('ls\r\nfile\r\n'));
    c.at(1200);
    term.resize(100, 30);
    term.close();
    assert.deepEqual(rec.events[0]?.kind, 'shell');
    assert.deepEqual(rec.events[0]?.data, { verdict: 'allow', phase: 'start', shell: 1, term: 'xterm-256color', cols: 120, rows: 40, started: START });
    assert.deepEqual(castRows(rec.events), [[[0.25, 'i', 'ls\r'], [0.3005, 'o', 'ls\r\nfile\r\n'], [1.2, 'r', '100x30']]]);
    assert.deepEqual(rec.events[1]?.data.shell, 1);
  });

  it('coalesces output into one event per row, and keeps a row under its size limits', () => {
    const rec = memoryRecording();
    const c = clock();
    const term = TerminalRecorder.start(rec, { shell: 1, term: 'xterm', cols: 80, rows: 24 }, {}, { now: c.now, maxChars: 8, maxEvents: 3 });
    for (const [t, chunk] of [[10, 'ab'], [20, 'cd'], [30, 'ef']] as const) {
      c.at(t);
      term.output(Buffer.from(chunk));
    }
    term.flush();
    assert.deepEqual(castRows(rec.events), [[[0.01, 'o', 'abcdef']]], 'three chunks, one event at the time of the first');
    c.at(40);
    term.output(Buffer.from('0123456789abcdefghij'));
    term.flush();
    assert.deepEqual(castRows(rec.events).slice(1), [[[0.04, 'o', '01234567']], [[0.04, 'o', '89abcdef']], [[0.04, 'o', 'ghij']]], 'split at maxChars, rows of at most 8');
    // A surrogate pair is never cut in two between rows.
    term.output(Buffer.from('1234567😀x'));
    term.flush();
    assert.deepEqual(castRows(rec.events).slice(4).map((r) => r.map((e) => e[2])), [['1234567'], ['😀x']]);
    // Input and resizes are events of their own; a row holds at most maxEvents.
    term.input('a');
    term.input('b');
    term.input('c');
    term.input('d');
    term.close();
    assert.deepEqual(castRows(rec.events).slice(6).map((r) => r.length), [3, 1]);
  });

  it('keeps a UTF-8 character split across chunks whole, per stream', () => {
    const rec = memoryRecording();
    const term = TerminalRecorder.start(rec, { shell: 1, term: 'xterm', cols: 80, rows: 24 });
    const text = Buffer.from('é € 😀 ok', 'utf8');
    // Every byte its own chunk, stdout and stderr interleaved with their own halves.
    const decoded: string[] = [];
    for (let i = 0; i < text.length; i++) {
      decoded.push(term.output(text.subarray(i, i + 1)));
      if (i === 1) decoded.push(term.output(Buffer.from([0xe2, 0x82]), 'stderr'));
    }
    decoded.push(term.output(Buffer.from([0xac]), 'stderr'));
    term.close();
    assert.equal(decoded.join(''), 'é € 😀 ok€');
    assert.equal(castRows(rec.events).flat().map((e) => e[2]).join(''), 'é € 😀 ok€');
    assert.ok(!castRows(rec.events).flat().some((e) => e[2].includes('\uFFFD')));
  });

  it('ends a character cut by the end of the stream as U+FFFD, and records nothing after close', () => {
    const rec = memoryRecording();
    const term = TerminalRecorder.start(rec, { shell: 1, term: null, cols: 0, rows: 0 });
    term.output(Buffer.from([0x61, 0xe2, 0x82]));
    term.close();
    term.output(Buffer.from('late'));
    term.input('late');
    term.flush();
    assert.deepEqual(castRows(rec.events).flat().map((e) => e[2]).join(''), 'a\uFFFD');
  });

  it('hands a pending row to the recording on its own, flushMs after its first event', async () => {
    const rec = memoryRecording();
    const term = TerminalRecorder.start(rec, { shell: 1, term: 'xterm', cols: 80, rows: 24 }, {}, { flushMs: 5 });
    term.output(Buffer.from('one'));
    term.output(Buffer.from('two'));
    assert.equal(castRows(rec.events).length, 0, 'nothing handed over synchronously');
    for (let i = 0; i < 400 && castRows(rec.events).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(castRows(rec.events).map((r) => r.map((e) => e[2])), [['onetwo']]);
    term.close();
  });
});

describe('asciicast document', () => {
  it('has the v2 header and the events in time order, input held back included', () => {
    const rec = memoryRecording();
    const c = clock();
    const term = TerminalRecorder.start(rec, { shell: 1, term: 'xterm-256color', cols: 120, rows: 40 }, {}, { now: c.now, wallClock: () => START });
    c.at(100);
    term.output(Buffer.from('$ '));
    c.at(900);
    term.output(Buffer.from('echo hi\r\nhi\r\n'));
    term.flush();
    // Input stored after the output it caused (held until its echo was seen), with its own time.
    term.input('echo hi\r', c.now() - 700);
    c.at(1500);
    term.resize(90, 20);
    term.close();
    const cast = buildCast('s_abc', rec.events);
    assert.ok(cast);
    assert.deepEqual(cast.header, { version: 2, width: 120, height: 40, timestamp: Math.floor(START / 1000), duration: 1.5, title: 'portcullis session s_abc', env: { TERM: 'xterm-256color' } });
    assert.deepEqual(cast.events, [[0.1, 'o', '$ '], [0.2, 'i', 'echo hi\r'], [0.9, 'o', 'echo hi\r\nhi\r\n'], [1.5, 'r', '90x20']]);
    const lines = formatCast(cast).split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline');
    assert.deepEqual(JSON.parse(lines[0] ?? ''), cast.header);
    assert.deepEqual(lines.slice(1).map((l) => JSON.parse(l) as unknown), cast.events);
    assert.deepEqual(shellsOf(rec.events), [1]);
  });

  it('falls back to 80x24 without a PTY size, and is undefined without a shell', () => {
    const rec = memoryRecording();
    const term = TerminalRecorder.start(rec, { shell: 1, term: null, cols: 0, rows: 0 });
    term.close();
    const cast = buildCast('s_x', rec.events);
    assert.deepEqual([cast?.header.width, cast?.header.height, cast?.header.env, cast?.events.length, cast?.header.duration], [80, 24, {}, 0, undefined]);
    assert.equal(buildCast('s_x', []), undefined);
    assert.equal(buildCast('s_x', rec.events, { shell: 2 }), undefined);
  });

  it('puts several shells one after the other, each marked, or one of them alone', () => {
    const rec = memoryRecording();
    const c = clock();
    const one = TerminalRecorder.start(rec, { shell: 1, term: 'xterm', cols: 80, rows: 24 }, {}, { now: c.now, wallClock: () => START });
    c.at(500);
    one.output(Buffer.from('first'));
    one.close();
    c.at(0);
    const two = TerminalRecorder.start(rec, { shell: 2, term: 'xterm', cols: 100, rows: 30 }, {}, { now: c.now, wallClock: () => START + 3000 });
    c.at(250);
    two.output(Buffer.from('second'));
    two.close();
    const both = buildCast('s_two', rec.events);
    assert.deepEqual(both?.shells, [1, 2]);
    assert.deepEqual(both?.events, [[0, 'm', 'shell 1'], [0.5, 'o', 'first'], [3, 'm', 'shell 2'], [3, 'r', '100x30'], [3.25, 'o', 'second']]);
    const second = buildCast('s_two', rec.events, { shell: 2 });
    assert.deepEqual([second?.header.width, second?.header.timestamp, second?.events], [100, Math.floor((START + 3000) / 1000), [[0.25, 'o', 'second']]]);
  });

  it('reads back from the store what a real recorder wrote, a large output whole', async (t) => {
    const store = await tempStore();
    const recorder = Recorder.open({ store, logger: captureLogger().logger });
    t.after(async () => {
      await recorder.close();
      await store.close();
    });
    const rec = recorder.start({ connection: 'box', protocol: 'ssh', subject: 'agent', clientAddr: null });
    const term = TerminalRecorder.start(rec, { shell: 1, term: 'xterm', cols: 80, rows: 24 });
    // 300 KiB of output with multibyte characters, in 1000-byte chunks that cut them.
    const big = Buffer.from('line ünïcödé 😀\r\n'.repeat(15_000));
    for (let i = 0; i < big.length; i += 1000) term.output(big.subarray(i, i + 1000));
    term.close();
    rec.end('closed');
    await recorder.flush();
    const read = await readCast(store, rec.id);
    assert.ok(read?.cast);
    assert.equal(read.cast.events.map((e) => e[2]).join(''), big.toString('utf8'));
    assert.ok(read.cast.events.every((e, i, all) => i === 0 || e[0] >= (all[i - 1]?.[0] ?? 0)));
    assert.equal(await readCast(store, 's_nosuchsession'), undefined);
  });
});
