// The protocol-neutral text stream masker (src/masking/text-stream.ts): detectors line by
// line whatever the chunking, private key blocks scanned whole, over-long lines withheld,
// line endings kept, binary bytes passed through, and the terminal mode of SSH output.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter, textMasker, WITHHELD_LINE, type StreamMasker } from '../../src/masking/text-stream.ts';
import { SECRET_MARKER, testSecret } from '../support/secrets.ts';
import { assertSplitInvariant, PEM, plan, run, runBytes } from '../support/stream-masking.ts';


describe('textMasker', () => {
  const p = plan({ detector: 'private_key', with: 'partial' }, { detector: 'email', with: 'redact' });

  it('masks a private key split across chunks, and findings per line', () => {
    const input = `log jane@example.com\n${PEM.join('\r\n')}\r\nafter bob@example.org\nend`;
    const expected = `log ****\n${PEM[0]}\n****\n${PEM[3]}\r\nafter ****\nend`;
    assertSplitInvariant(() => textMasker(p, 1024), input, expected);
  });

  it('an unfinished key is masked to the end of the stream', () => {
    assertSplitInvariant(() => textMasker(p, 1024), `a\n${PEM.slice(0, 3).join('\n')}\n`, `a\n${PEM[0]}\n****\n`);
  });

  it('a key block longer than maxLine is masked as held, then redacted line by line to its END line', () => {
    const lines = [PEM[0], ...Array.from({ length: 6 }, (_, i) => `${String(i).repeat(40)}`), PEM[3], 'after jane@example.com', ''];
    const expected = [PEM[0], ...Array.from({ length: 6 }, () => '****'), PEM[3], 'after ****', ''].join('\n');
    assertSplitInvariant(() => textMasker(p, 100), lines.join('\n'), expected);
  });

  it('withholds a line longer than maxLine', () => {
    assertSplitInvariant(() => textMasker(p, 20), `short\n${'z'.repeat(21)}\r\nok jane@x.io\n`, `short\n${WITHHELD_LINE}\r\nok ****\n`);
    assertSplitInvariant(() => textMasker(p, 20), `${'z'.repeat(20)}\r\n`, `${'z'.repeat(20)}\r\n`);
  });

  it('counts the lines the detectors changed, and withheld lines as changed only', () => {
    const m = textMasker(p, 40);
    runBytes(() => m, [Buffer.from(`a@example.com b@example.com\nplain\n${'z'.repeat(50)}\nc@example.com\n`)]);
    assert.equal(m.stats.detectorHits, 2);
    assert.equal(m.stats.changed, 3);
    assert.deepEqual(m.stats.maskedPaths, []);
  });

  it('masks secret formats and passes other lines untouched', () => {
    const s = plan({ detector: 'secrets', with: 'partial' }, { detector: 'custom', name: 'password_assignment', pattern: 'password=[^\\s]+', with: 'redact' });
    const github = `ghp_${SECRET_MARKER}${'0'.repeat(36 - SECRET_MARKER.length)}`;
    const aws = `AKIA${'Q7'.repeat(8)}`;
    const input = `AWS_ACCESS_KEY_ID=${aws}\nGITHUB_TOKEN=${github}\npassword=${testSecret('pw')}\nHOME=/root\n`;
    const out = run(() => textMasker(s, 1024), [Buffer.from(input)]);
    assert.equal(out, 'AWS_ACCESS_KEY_ID=AKIA****\nGITHUB_TOKEN=ghp_****\n****\nHOME=/root\n');
    assert.ok(!out.includes(SECRET_MARKER));
  });

  it('passes binary bytes through unchanged, whatever the chunking, when nothing is found', () => {
    const s = plan({ detector: 'secrets', with: 'redact' });
    const bytes = Buffer.alloc(50_000);
    for (let i = 0, x = 7; i < bytes.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      bytes[i] = x >>> 24;
    }
    // Random bytes hold a `\n` every 256 bytes or so: every line is far below the cap.
    assert.ok(runBytes(() => textMasker(s, 64 * 1024), [bytes]).equals(bytes));
    const pieces = [bytes.subarray(0, 1), bytes.subarray(1, 4097), bytes.subarray(4097, 30_001), bytes.subarray(30_001)];
    assert.ok(runBytes(() => textMasker(s, 64 * 1024), pieces).equals(bytes));
  });

  it('a null rule empties the line and keeps its ending', () => {
    const n = plan({ detector: 'email', with: 'null' });
    assertSplitInvariant(() => textMasker(n, 100), 'a\r\nmail jane@example.com\r\nb\n', 'a\r\n\r\nb\n');
  });
});

describe('textMasker for terminals', () => {
  const p = plan({ detector: 'private_key', with: 'partial' }, { detector: 'email', with: 'redact' });
  const term = (max = 1024) => (): StreamMasker => textMasker(p, max, { terminal: true });

  it('keeps CRLF line endings (PTY output), also between the lines of a masked key', () => {
    const input = `log jane@example.com\r\n${PEM.join('\r\n')}\r\nafter bob@example.org\r\nend`;
    const expected = `log ****\r\n${PEM[0]}\r\n****\r\n${PEM[3]}\r\nafter ****\r\nend`;
    assertSplitInvariant(term(), input, expected);
  });

  it('a key block with LF endings stays LF', () => {
    assertSplitInvariant(term(), `${PEM.join('\n')}\n`, `${PEM[0]}\n****\n${PEM[3]}\n`);
  });

  it('a lone CR ends a line: progress redraws pass however long they run in all', () => {
    const frames = Array.from({ length: 10 }, (_, i) => `${i * 10}% jane@example.com`);
    const input = `${frames.join('\r')}\r\ndone\r\n`;
    const expected = `${frames.map((f) => f.replace('jane@example.com', '****')).join('\r')}\r\ndone\r\n`;
    assertSplitInvariant(term(30), input, expected);
    // Without the terminal mode the redraws are one line, too long for the same cap.
    assert.equal(run(() => textMasker(p, 30), [Buffer.from(input)]), `${WITHHELD_LINE}\r\ndone\r\n`);
  });
});

describe('LineSplitter', () => {
  it('gives each line with its ending; null for a line over max', () => {
    const got: Array<[string | null, string]> = [];
    const s = new LineSplitter(5, false, (content, eol) => got.push([content === null ? null : content.toString(), eol.toString()]));
    s.push(Buffer.from('ab\r\ncd\rx\n123456\nlast'));
    s.end();
    assert.deepEqual(got, [['ab', '\r\n'], ['cd\rx', '\n'], [null, '\n'], ['last', '']]);
  });
});
