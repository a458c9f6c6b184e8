// SFTP version 3, what OpenSSH speaks inside the `sftp` subsystem: bytes in, typed requests
// out, and the few packets the gateway writes itself. No channel and no policy here.
//   draft-ietf-secsh-filexfer-02 https://datatracker.ietf.org/doc/html/draft-ietf-secsh-filexfer-02
//   OpenSSH's extensions: https://github.com/openssh/openssh-portable/blob/master/PROTOCOL (section 4)
// Every packet is `uint32 length | byte type | payload`, `length` counting type and payload;
// every packet but INIT and VERSION then starts with a `uint32 request-id`.

/** Packet types (draft section 3). */
export const FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** STATUS codes (draft section 7). */
export const FX = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/** OPEN pflags (draft section 6.3). */
export const PFLAG = {
  READ: 0x01,
  WRITE: 0x02,
  APPEND: 0x04,
  CREAT: 0x08,
  TRUNC: 0x10,
  EXCL: 0x20,
} as const;

/** `uint32 length | byte type`. */
export const HEADER_LENGTH = 5;
/** Header and request id. */
export const ID_END = 9;
/** OpenSSH's limit is 256 KiB (SFTP_MAX_MSG_LENGTH); a little more for a full WRITE's other fields. */
export const MAX_PACKET_LENGTH = 256 * 1024 + 1024;
/** Handles are at most 256 bytes (draft section 3). */
export const MAX_HANDLE_LENGTH = 256;
/** A WRITE up to its data: header, id, handle (with its length), offset, data length. */
export const WRITE_HEAD_MAX = ID_END + 4 + MAX_HANDLE_LENGTH + 8 + 4;

/**
 * EXTENDED requests whose leading strings name files (or, for home-directory, a user), by how
 * many there are; the other known ones act on handles or on nothing. Unknown names are absent.
 */
export const EXTENSION_PATHS: ReadonlyMap<string, number> = new Map([
  ['posix-rename@openssh.com', 2],
  ['hardlink@openssh.com', 2],
  ['statvfs@openssh.com', 1],
  ['lsetstat@openssh.com', 1],
  ['expand-path@openssh.com', 1],
  ['home-directory', 1],
  ['fstatvfs@openssh.com', 0],
  ['fsync@openssh.com', 0],
  ['copy-data', 0],
  ['limits@openssh.com', 0],
  ['users-groups-by-id@openssh.com', 0],
]);

/** A packet that breaks the framing (length 0 or over the cap) or a field that runs past its packet. */
export class SftpProtocolError extends Error {}

// ---------------------------------------------------------------------------------------------
// Framing

/** What the framer hands packets to. Views are only valid during the call unless noted. */
export interface FrameSink {
  /**
   * How many bytes of a packet (from its length field) the sink must see before it can act on
   * it: `size` for the whole packet, or fewer, and then the rest streams through `tail`.
   */
  headSize(type: number, size: number): number;
  /**
   * The first headSize bytes of a packet of `size` bytes. A view of the received chunk, or a
   * buffer of its own when the head spanned chunks; the framer never writes into either, so
   * they may be kept. Return true to suspend the framer after this head (resume() goes on).
   */
  head(bytes: Buffer, size: number): boolean;
  /** The next bytes of the current packet after its head; `done` with its last ones. */
  tail(bytes: Buffer, done: boolean): void;
}

/**
 * An incremental framer: a cursor over each received chunk; complete heads inside a chunk are
 * handed out as views of it, only a head split across chunks is copied, and the rest of a
 * streamed packet (WRITE or DATA payloads) passes as views without being gathered at all.
 */
export class SftpFramer {
  readonly #max: number;
  readonly #header = Buffer.alloc(HEADER_LENGTH);
  /** A head being gathered across chunks (undefined while its first 5 bytes are not all known). */
  #partial: Buffer | undefined;
  #have = 0;
  #size = 0;
  /** Bytes of the current packet still to pass through tail(). */
  #rest = 0;
  readonly #queue: Buffer[] = [];
  #suspended = false;

  constructor(maxLength = MAX_PACKET_LENGTH) {
    this.#max = maxLength;
  }

  get suspended(): boolean {
    return this.#suspended;
  }

  /** True between packets: nothing of a packet has been handed out without the rest. */
  get atBoundary(): boolean {
    return this.#rest === 0;
  }

  /** Throws SftpProtocolError on a bad length (the stream cannot be followed after it). */
  push(chunk: Buffer, sink: FrameSink): void {
    this.#queue.push(chunk);
    if (!this.#suspended) this.#drain(sink);
  }

  resume(sink: FrameSink): void {
    this.#suspended = false;
    this.#drain(sink);
  }

  #drain(sink: FrameSink): void {
    while (!this.#suspended) {
      const chunk = this.#queue.shift();
      if (chunk === undefined) return;
      this.#run(chunk, sink);
    }
  }

  #run(chunk: Buffer, sink: FrameSink): void {
    const n = chunk.length;
    let p = 0;
    while (p < n) {
      if (this.#rest > 0) {
        const take = Math.min(this.#rest, n - p);
        this.#rest -= take;
        sink.tail(chunk.subarray(p, p + take), this.#rest === 0);
        p += take;
        continue;
      }
      let head: Buffer;
      if (this.#have > 0 || n - p < HEADER_LENGTH) {
        // A head split across chunks: gather its 5 header bytes, then the rest of the head.
        if (this.#partial === undefined) {
          const take = Math.min(HEADER_LENGTH - this.#have, n - p);
          chunk.copy(this.#header, this.#have, p, p + take);
          this.#have += take;
          p += take;
          if (this.#have < HEADER_LENGTH) return;
          this.#partial = Buffer.allocUnsafe(this.#begin(this.#header, 0, sink));
          this.#header.copy(this.#partial, 0);
        }
        const partial = this.#partial;
        const take = Math.min(partial.length - this.#have, n - p);
        chunk.copy(partial, this.#have, p, p + take);
        this.#have += take;
        p += take;
        if (this.#have < partial.length) return;
        this.#partial = undefined;
        this.#have = 0;
        head = partial;
      } else {
        const need = this.#begin(chunk, p, sink);
        if (n - p < need) {
          this.#partial = Buffer.allocUnsafe(need);
          chunk.copy(this.#partial, 0, p, n);
          this.#have = n - p;
          return;
        }
        head = chunk.subarray(p, p + need);
        p += need;
      }
      this.#rest = this.#size - head.length;
      if (sink.head(head, this.#size)) {
        this.#suspended = true;
        if (p < n) this.#queue.unshift(chunk.subarray(p));
        return;
      }
    }
  }

  /** Reads a packet's length and type at `at`; returns its head size. */
  #begin(bytes: Buffer, at: number, sink: FrameSink): number {
    const length = bytes.readUInt32BE(at);
    if (length === 0) throw new SftpProtocolError('an SFTP packet of length 0');
    if (length > this.#max) throw new SftpProtocolError(`an SFTP packet of ${length} bytes (the limit is ${this.#max})`);
    this.#size = length + 4;
    return Math.min(this.#size, Math.max(HEADER_LENGTH, sink.headSize(bytes[at + 4] ?? 0, this.#size)));
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A cursor over one packet (or its head); every read checks the bounds. */
class Reader {
  readonly #buf: Buffer;
  #pos: number;

  constructor(buf: Buffer, pos: number) {
    this.#buf = buf;
    this.#pos = pos;
  }

  #need(n: number): void {
    if (this.#pos + n > this.#buf.length) throw new SftpProtocolError('an SFTP field runs past the end of its packet');
  }

  u32(): number {
    this.#need(4);
    const v = this.#buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }

  /** `string` as bytes: a view. */
  bytes(): Buffer {
    const length = this.u32();
    this.#need(length);
    const v = this.#buf.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return v;
  }

  /** `string` as text: paths are compared as UTF-8, and bytes that are not are refused. */
  text(): string {
    const bytes = this.bytes();
    try {
      return UTF8.decode(bytes);
    } catch {
      throw new SftpProtocolError('a path is not valid UTF-8');
    }
  }
}

type PathOnly =
  | typeof FXP.LSTAT
  | typeof FXP.SETSTAT
  | typeof FXP.OPENDIR
  | typeof FXP.REMOVE
  | typeof FXP.MKDIR
  | typeof FXP.RMDIR
  | typeof FXP.REALPATH
  | typeof FXP.STAT
  | typeof FXP.READLINK;

/** A request that names files. Attributes (SETSTAT, MKDIR, OPEN) are not decoded: they pass as sent. */
export type SftpPathRequest =
  | { readonly type: typeof FXP.OPEN; readonly id: number; readonly path: string; readonly pflags: number }
  | { readonly type: PathOnly; readonly id: number; readonly path: string }
  /** RENAME: old, new. SYMLINK: the draft says linkpath, targetpath; OpenSSH swaps them (PROTOCOL 4.1). */
  | { readonly type: typeof FXP.RENAME | typeof FXP.SYMLINK; readonly id: number; readonly path: string; readonly other: string }
  /** `args`: the leading strings EXTENSION_PATHS counts for `name` (none for other names). */
  | { readonly type: typeof FXP.EXTENDED; readonly id: number; readonly name: string; readonly args: readonly string[] };

const PATH_ONLY: ReadonlySet<number> = new Set([FXP.LSTAT, FXP.SETSTAT, FXP.OPENDIR, FXP.REMOVE, FXP.MKDIR, FXP.RMDIR, FXP.REALPATH, FXP.STAT, FXP.READLINK]);

export function isPathRequest(type: number): boolean {
  return PATH_ONLY.has(type) || type === FXP.OPEN || type === FXP.RENAME || type === FXP.SYMLINK || type === FXP.EXTENDED;
}

/** Decodes a whole request packet of a type isPathRequest accepts (draft sections 6.3-6.10, 8). */
export function decodePathRequest(packet: Buffer): SftpPathRequest {
  const type = packet[4];
  const r = new Reader(packet, HEADER_LENGTH);
  const id = r.u32();
  switch (type) {
    case FXP.OPEN: {
      const path = r.text();
      return { type, id, path, pflags: r.u32() };
    }
    case FXP.RENAME:
    case FXP.SYMLINK: {
      const path = r.text();
      return { type, id, path, other: r.text() };
    }
    case FXP.EXTENDED: {
      const name = r.text();
      const args: string[] = [];
      for (let i = EXTENSION_PATHS.get(name) ?? 0; i > 0; i--) args.push(r.text());
      return { type, id, name, args };
    }
    case FXP.LSTAT:
    case FXP.SETSTAT:
    case FXP.OPENDIR:
    case FXP.REMOVE:
    case FXP.MKDIR:
    case FXP.RMDIR:
    case FXP.REALPATH:
    case FXP.STAT:
    case FXP.READLINK:
      return { type, id, path: r.text() };
  }
  throw new SftpProtocolError(`SFTP packet type ${String(type)} names no path`);
}

/** The request id of any packet but INIT and VERSION. */
export function requestId(packet: Buffer): number {
  return u32At(packet, HEADER_LENGTH);
}

/**
 * The id and handle of a request that starts with a handle (CLOSE, READ, WRITE, FSTAT,
 * FSETSTAT, READDIR) or of a HANDLE reply. `handle` is a view.
 */
export function decodeHandle(packet: Buffer): { readonly id: number; readonly handle: Buffer } {
  const r = new Reader(packet, HEADER_LENGTH);
  const id = r.u32();
  return { id, handle: r.bytes() };
}

/** A uint32 at `at`, for the fields read on every WRITE and reply (no cursor object). */
function u32At(bytes: Buffer, at: number): number {
  if (at + 4 > bytes.length) throw new SftpProtocolError('an SFTP field runs past the end of its packet');
  return bytes.readUInt32BE(at);
}

/** WRITE: the length of its data (read from its head: id, handle, offset, data length). */
export function writeDataLength(head: Buffer, handleLength: number): number {
  return u32At(head, ID_END + 4 + handleLength + 8);
}

/** DATA reply: the length of its data (read from its first 13 bytes). */
export function dataLength(head: Buffer): number {
  return u32At(head, ID_END);
}

/** STATUS reply: its code. */
export function statusCode(packet: Buffer): number {
  return u32At(packet, ID_END);
}

/** NAME reply: its first file name (REALPATH answers with exactly one), or undefined for none. */
export function firstName(packet: Buffer): string | undefined {
  const r = new Reader(packet, ID_END);
  return r.u32() === 0 ? undefined : r.text();
}

// ---------------------------------------------------------------------------------------------
// Encoding: header reserved, fields written, length back-filled.

/** SSH_FXP_STATUS: `uint32 id, uint32 code, string message, string language` (draft section 7). */
export function encodeStatus(id: number, code: number, message: string, language = ''): Buffer {
  const text = Buffer.from(message, 'utf8');
  const lang = Buffer.from(language, 'utf8');
  const out = Buffer.allocUnsafe(ID_END + 4 + 4 + text.length + 4 + lang.length);
  out.writeUInt32BE(out.length - 4, 0);
  out[4] = FXP.STATUS;
  let pos = out.writeUInt32BE(id, HEADER_LENGTH);
  pos = out.writeUInt32BE(code, pos);
  pos = out.writeUInt32BE(text.length, pos);
  pos += text.copy(out, pos);
  pos = out.writeUInt32BE(lang.length, pos);
  lang.copy(out, pos);
  return out;
}

/** SSH_FXP_REALPATH: `uint32 id, string path` (draft section 6.9). */
export function encodeRealpath(id: number, path: string): Buffer {
  const bytes = Buffer.from(path, 'utf8');
  const out = Buffer.allocUnsafe(ID_END + 4 + bytes.length);
  out.writeUInt32BE(out.length - 4, 0);
  out[4] = FXP.REALPATH;
  const pos = out.writeUInt32BE(id, HEADER_LENGTH);
  bytes.copy(out, out.writeUInt32BE(bytes.length, pos));
  return out;
}
