// The `file` witness: one JSON line per signed checkpoint, appended to a file opened with
// O_APPEND (and fdatasync'd), which is meant to live where the store's owner cannot rewrite it:
// another host's mount, a file with `chattr +a`, a log shipper's input. It never writes a line
// that goes backwards: a head at or below the last one in the file is skipped.
import { mkdirSync, openSync, closeSync, readSync, fstatSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GatewayError } from '../../core/errors.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { newStats, parseWitnessLine, witnessLine, type ReadableWitness, type WitnessHead, type WitnessStats } from './witness.ts';

/** How much of the file's end is read at start: many lines, whatever the file's length. */
const TAIL_BYTES = 64 * 1024;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The witness lines in the last TAIL_BYTES of `path` (none when it does not exist). */
function readTail(path: string): WitnessHead[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    const lines = buf.toString('utf8').split('\n');
    // The first line may be cut by the window (unless the window is the whole file).
    if (length < size) lines.shift();
    const heads: WitnessHead[] = [];
    for (const line of lines) {
      if (line.trim() === '') continue;
      const head = parseWitnessLine(line);
      if (typeof head !== 'string') heads.push(head);
    }
    return heads;
  } finally {
    closeSync(fd);
  }
}

export class FileWitness implements ReadableWitness {
  readonly name: string;
  readonly stats: WitnessStats = newStats();
  readonly #path: string;
  readonly #file: FileHandle;
  readonly #recent: readonly WitnessHead[];
  readonly #logger: Logger;
  #floor = 0;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(path: string, file: FileHandle, recent: readonly WitnessHead[], logger: Logger) {
    this.name = `file:${path}`;
    this.#path = path;
    this.#file = file;
    this.#recent = recent;
    this.#logger = logger;
  }

  /** Opens (creating it, mode 0600) the file for appending; PCS_AUDIT_WITNESS_UNAVAILABLE when it cannot. */
  static async open(path: string, logger: Logger): Promise<FileWitness> {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const recent = readTail(path);
      // 'a': O_WRONLY | O_CREAT | O_APPEND, so every write lands at the end, whatever else wrote.
      const file = await open(path, 'a', 0o600);
      return new FileWitness(path, file, recent, logger);
    } catch (err) {
      throw new GatewayError('PCS_AUDIT_WITNESS_UNAVAILABLE', { witness: `file:${path}`, detail: describe(err) }, { cause: err });
    }
  }

  recent(): readonly WitnessHead[] {
    return this.#recent;
  }

  holdAbove(seq: number): void {
    if (seq > this.#floor) this.#floor = seq;
  }

  publish(head: WitnessHead): void {
    if (this.#closed) return;
    if (head.seq <= this.#floor) {
      this.stats.skipped++;
      this.#logger.warn({ witness: this.name, seq: head.seq, witnessSeq: this.#floor }, 'audit witness: not writing a head below the one the witness already holds');
      return;
    }
    this.#floor = head.seq;
    const line = `${witnessLine(head)}\n`;
    // One write per line, in order; each made durable before the next.
    this.#tail = this.#tail.then(async () => {
      try {
        await this.#file.write(line);
        await this.#file.datasync();
        this.stats.delivered++;
      } catch (err) {
        this.stats.failed++;
        this.#logger.error({ witness: this.name, seq: head.seq, reason: describe(err) }, 'audit witness: write failed');
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    await this.#file.close();
    this.#logger.debug({ witness: this.name, path: this.#path, ...this.stats }, 'audit witness closed');
  }
}
