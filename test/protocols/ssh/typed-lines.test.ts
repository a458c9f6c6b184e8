// Typed command lines from the keys an agent sends to a shell (editing keys, escape
// sequences, Ctrl-C/U/W, split chunks), and the echo check that keeps what a no-echo prompt
// read out of the recording.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { echoRuns, echoText, LineEditor, MAX_LINE_CHARS, TypedInput, type ReleasedInput } from '../../../src/protocols/ssh/typed-lines.ts';

function lines(...chunks: string[]): Array<{ line: string; edited: boolean }> {
  const editor = new LineEditor();
  return chunks.flatMap((c) => editor.feed(c)).map(({ line, edited }) => ({ line, edited }));
}

const plain = (line: string): { line: string; edited: boolean } => ({ line, edited: false });
const edited = (line: string): { line: string; edited: boolean } => ({ line, edited: true });

describe('line editor', () => {
  it('ends a line at CR, LF or CRLF (once), across chunks', () => {
    assert.deepEqual(lines('echo hello-$((6*7))\r'), [plain('echo hello-$((6*7))')]);
    assert.deepEqual(lines('ls\r\npwd\n', 'uname\r', '\nid', '\r'), [plain('ls'), plain('pwd'), plain('uname'), plain('id')]);
    assert.deepEqual(lines('\r\r'), [plain(''), plain('')], 'Enter on an empty line is a line');
    assert.deepEqual(lines('ec', 'ho h', 'i'), [], 'no line end, no line');
  });

  it('applies backspace, DEL, Ctrl-U and Ctrl-W, and abandons the line on Ctrl-C', () => {
    assert.deepEqual(lines('ecj\x7fho hi\r'), [plain('echo hi')]);
    assert.deepEqual(lines('ls -x\bl\r'), [plain('ls -l')]);
    assert.deepEqual(lines('\x7f\x7fls\r'), [plain('ls')], 'backspace on an empty line does nothing');
    assert.deepEqual(lines('rm -rf /\x15echo safe\r'), [plain('echo safe')]);
    assert.deepEqual(lines('cat /etc/passwd  \x17hosts\r'), [plain('cat hosts')]);
    assert.deepEqual(lines('rm -rf /tmp/x\x03', 'ls\r'), [plain('ls')]);
    assert.deepEqual(lines('😀😀\x7f\r'), [plain('😀')], 'backspace removes a whole character');
  });

  it('skips escape sequences and marks the line edited, also when split across chunks', () => {
    assert.deepEqual(lines('\x1b[A\r'), [edited('')], 'history recall: the line is unknowable');
    assert.deepEqual(lines('git sta\x1b[D\x1b[Dx\r'), [edited('git stax')]);
    assert.deepEqual(lines('ls \x1b', '[1;5', 'C-l\r'), [edited('ls -l')]);
    assert.deepEqual(lines('ls\x1bOA\r'), [edited('ls')], 'SS3 arrows');
    assert.deepEqual(lines('ls\x1bb\r'), [edited('ls')], 'Alt-b');
    assert.deepEqual(lines('ls\x1b\r'), [edited('ls')], 'ESC then Enter still accepts');
    assert.deepEqual(lines('ls\x1b[A', '\r', 'pwd\r'), [edited('ls'), plain('pwd')], 'the next line starts clean');
  });

  it('marks completion and other control keys as edits, ignores Ctrl-L, and reads bracketed paste as text', () => {
    assert.deepEqual(lines('cat /et\t/hosts\r'), [edited('cat /et/hosts')]);
    assert.deepEqual(lines('ls\x01\x05\r'), [edited('ls')], 'Ctrl-A, Ctrl-E');
    assert.deepEqual(lines('ls\x0c -l\r'), [plain('ls -l')]);
    assert.deepEqual(lines('\x04'), [], 'Ctrl-D on an empty line: end of input, no line');
    assert.deepEqual(lines('\x1b[200~echo\tpasted\x1b[201~\r'), [plain('echo\tpasted')]);
  });

  it('keeps at most MAX_LINE_CHARS of a line', () => {
    const [line] = new LineEditor().feed('x'.repeat(MAX_LINE_CHARS + 10) + '\r');
    assert.deepEqual([line?.line.length, line?.truncated], [MAX_LINE_CHARS, true]);
  });
});

describe('echo check', () => {
  it('compares typed runs with the output, without controls, escapes and spaces', () => {
    assert.deepEqual(echoRuns('echo hi there\r'), ['echohithere']);
    assert.deepEqual(echoRuns('ec\x7fcho\x1b[Dx\r'), ['ec', 'cho', 'x']);
    assert.equal(echoText('\x1b[?2004h\x1b]0;root@vm: ~\x07root@vm:~# echo xx\rxx\r\n\x1b[01;32mok\x1b[0m'), 'root@vm:~#echoxxxxok');
  });

  const released = (r: readonly ReleasedInput[]): Array<[string, boolean, string | null | undefined]> =>
    r.map((x) => [x.input.map((p) => p.text).join(''), x.echoed, x.line === undefined ? undefined : x.line.echoed ? x.line.line : null]);

  it('releases input once the terminal echoed it, with its line', () => {
    const typed = new TypedInput({ echoCheck: true, waitMs: 1000 });
    typed.input('echo hello-$((6*7))\r', 10);
    assert.deepEqual(typed.take(20), [], 'held until its echo is seen');
    typed.output('echo hello-$((6*7))\r\n');
    const out = typed.take(30);
    assert.deepEqual(released(out), [['echo hello-$((6*7))\r', true, 'echo hello-$((6*7))']]);
    assert.deepEqual(out[0]?.input, [{ at: 10, text: 'echo hello-$((6*7))\r' }], 'with the time it was typed');
    assert.equal(out[0]?.line?.at, 10);
    assert.equal(typed.nextDeadline(), undefined);
  });

  it('finds the echo of a line edited with backspace, and of a line the terminal wrapped', () => {
    const typed = new TypedInput({ echoCheck: true, waitMs: 1000 });
    for (const [i, key] of [...'ecx\x7fho hi\r'].entries()) {
      typed.input(key, i);
      typed.output(key === '\x7f' ? '\b \b' : key === '\r' ? '\r\n' : key);
    }
    assert.deepEqual(released(typed.take(20)), [['ecx\x7fho hi\r', true, 'echo hi']]);
    const long = `echo ${'x'.repeat(100)}`;
    typed.input(`${long}\r`, 30);
    typed.output(`root@vm:~# ${long.slice(0, 69)}\r${long.slice(69)}\r\n`);
    assert.deepEqual(released(typed.take(31)), [[`${long}\r`, true, long]]);
  });

  it('keeps only the line ends of input that was not echoed, and no text for its line', () => {
    const typed = new TypedInput({ echoCheck: true, waitMs: 1000 });
    typed.input('read -s v\r', 0);
    typed.output('read -s v\r\n');
    typed.input('hunter2\r', 100);
    // What followed shows the characters of the secret, but not as one run: no echo.
    typed.output('\r\nhello, universe: tea at 2\r\n$ ');
    assert.deepEqual(released(typed.take(200)), [['read -s v\r', true, 'read -s v']]);
    assert.equal(typed.nextDeadline(), 1100);
    assert.deepEqual(released(typed.take(1100)), [['\r', false, null]]);
  });

  it('reports no text for a line of which an earlier part was not echoed', () => {
    const typed = new TypedInput({ echoCheck: true, waitMs: 1000 });
    typed.input('hunt', 0);
    assert.deepEqual(released(typed.take(1000)), [['', false, undefined]]);
    typed.input('er2\r', 1500);
    typed.output('\r\n');
    const out = typed.take(3000);
    assert.deepEqual(released(out), [['\r', false, null]]);
    typed.input('ls\r', 4000);
    typed.output('ls\r\n');
    assert.deepEqual(released(typed.take(4001)), [['ls\r', true, 'ls']], 'the next line is judged on its own');
  });

  it('releases in typed order, and decides everything at the end', () => {
    const typed = new TypedInput({ echoCheck: true, waitMs: 1000 });
    typed.input('secret\rls\r', 0);
    typed.output('ls\r\n');
    assert.deepEqual(typed.take(10), [], 'ls waits for the line before it');
    assert.deepEqual(released(typed.finish()), [['\r', false, null], ['ls\r', true, 'ls']]);
  });

  it('does not hold input beyond maxHeldChars', () => {
    const typed = new TypedInput({ echoCheck: true, waitMs: 60_000, maxHeldChars: 8 });
    typed.input('0123456789', 0);
    assert.deepEqual(released(typed.take(1)), [['', false, undefined]]);
  });

  it('without an echo check (no PTY), releases everything at once', () => {
    const typed = new TypedInput({ echoCheck: false });
    typed.input('echo a\rech', 0);
    assert.deepEqual(released(typed.take(0)), [['echo a\r', true, 'echo a'], ['ech', true, undefined]]);
    assert.equal(typed.nextDeadline(), undefined);
  });
});
