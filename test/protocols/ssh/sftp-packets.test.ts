// The SFTP v3 codec: framing across every chunk split (heads whole or in part, streamed
// tails, suspension), the request and reply decoders, and the gateway's own packets byte for
// byte.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dataLength,
  decodeHandle,
  decodePathRequest,
  encodeRealpath,
  encodeStatus,
  firstName,
  FX,
  FXP,
  isPathRequest,
  MAX_PACKET_LENGTH,
  PFLAG,
  requestId,
  SftpFramer,
  SftpProtocolError,
  statusCode,
  WRITE_HEAD_MAX,
  writeDataLength,
  type FrameSink,
} from '../../../src/protocols/ssh/sftp-packets.ts';

type Field = number | bigint | string | Buffer;

/** One packet: u32 for numbers, u64 for bigints, SFTP strings for strings and buffers. */
function pkt(type: number, ...fields: Field[]): Buffer {
  const parts: Buffer[] = [Buffer.from([type])];
  for (const f of fields) {
    if (typeof f === 'number') {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(f);
      parts.push(b);
    } else if (typeof f === 'bigint') {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(f);
      parts.push(b);
    } else {
      const bytes = typeof f === 'string' ? Buffer.from(f, 'utf8') : f;
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      parts.push(len, bytes);
    }
  }
  const body = Buffer.concat(parts);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

const ATTRS_NONE = 0; // attribute flags: none present

/** A sink that rebuilds every packet from its head and tails, and can suspend on one type. */
class Collector implements FrameSink {
  readonly packets: Buffer[] = [];
  readonly heads: number[] = [];
  #current: Buffer[] = [];
  #size = 0;
  constructor(
    readonly streamType: number | undefined = undefined,
    readonly suspendOn: number | undefined = undefined,
  ) {}
  headSize(type: number, size: number): number {
    return type === this.streamType ? WRITE_HEAD_MAX : size;
  }
  head(bytes: Buffer, size: number): boolean {
    this.heads.push(bytes.length);
    this.#current = [Buffer.from(bytes)];
    this.#size = size;
    if (bytes.length === size) this.#end();
    return bytes[4] === this.suspendOn;
  }
  tail(bytes: Buffer, done: boolean): void {
    this.#current.push(Buffer.from(bytes));
    if (done) this.#end();
  }
  #end(): void {
    const p = Buffer.concat(this.#current);
    assert.equal(p.length, this.#size);
    this.packets.push(p);
  }
}

const handle = Buffer.from([0, 0, 0, 1]);
const STREAM = [
  pkt(FXP.INIT, 3),
  pkt(FXP.OPEN, 1, '/srv/up/a.bin', PFLAG.WRITE | PFLAG.CREAT | PFLAG.TRUNC, ATTRS_NONE),
  pkt(FXP.WRITE, 2, handle, 0n, Buffer.alloc(700, 0xab)),
  pkt(FXP.WRITE, 3, handle, 700n, Buffer.alloc(5, 0xcd)),
  pkt(FXP.CLOSE, 4, handle),
  pkt(FXP.STAT, 5, '/srv'),
];
const WHOLE = Buffer.concat(STREAM);

describe('SftpFramer', () => {
  it('frames packets split at every byte boundary, and in one chunk', () => {
    for (let cut = 0; cut <= WHOLE.length; cut++) {
      const sink = new Collector();
      const framer = new SftpFramer();
      framer.push(WHOLE.subarray(0, cut), sink);
      framer.push(WHOLE.subarray(cut), sink);
      assert.deepEqual(sink.packets, STREAM, `cut at ${cut}`);
      assert.ok(framer.atBoundary);
    }
  });

  it('streams the rest of a packet after its head, across chunks of every size', () => {
    for (const size of [1, 2, 3, 7, 64, 1000]) {
      const sink = new Collector(FXP.WRITE);
      const framer = new SftpFramer();
      for (let i = 0; i < WHOLE.length; i += size) framer.push(WHOLE.subarray(i, i + size), sink);
      assert.deepEqual(sink.packets, STREAM, `chunks of ${size}`);
      // The long WRITE's head stops after its data length; the short one is whole.
      assert.equal(sink.heads[2], WRITE_HEAD_MAX);
      assert.equal(sink.heads[3], STREAM[3]?.length);
    }
  });

  it('hands out views of the chunk when a head lies inside it', () => {
    const heads: Buffer[] = [];
    const framer = new SftpFramer();
    framer.push(WHOLE, { headSize: (_t, size) => size, head: (b) => (heads.push(b), false), tail: () => undefined });
    assert.equal(heads.length, STREAM.length);
    for (const h of heads) assert.equal(h.buffer, WHOLE.buffer);
  });

  it('suspends after a head and goes on where it stopped on resume', () => {
    const sink = new Collector(undefined, FXP.OPEN);
    const framer = new SftpFramer();
    framer.push(WHOLE.subarray(0, 40), sink);
    framer.push(WHOLE.subarray(40), sink);
    assert.ok(framer.suspended);
    assert.deepEqual(sink.packets, STREAM.slice(0, 2));
    framer.resume(sink);
    assert.deepEqual(sink.packets, STREAM);
  });

  it('refuses a packet over the cap and one of length 0', () => {
    const big = Buffer.alloc(8);
    big.writeUInt32BE(MAX_PACKET_LENGTH + 1);
    big[4] = FXP.WRITE;
    assert.throws(() => new SftpFramer().push(big, new Collector()), SftpProtocolError);
    // Split inside the length field too.
    const framer = new SftpFramer();
    framer.push(big.subarray(0, 2), new Collector());
    assert.throws(() => framer.push(big.subarray(2), new Collector()), /limit/);
    assert.throws(() => new SftpFramer().push(Buffer.from([0, 0, 0, 0, 1]), new Collector()), /length 0/);
    const atCap = Buffer.alloc(4 + MAX_PACKET_LENGTH);
    atCap.writeUInt32BE(MAX_PACKET_LENGTH);
    atCap[4] = FXP.WRITE;
    const sink = new Collector();
    new SftpFramer().push(atCap, sink);
    assert.equal(sink.packets.length, 1);
  });
});

describe('SFTP request decoders', () => {
  it('OPEN: path and pflags', () => {
    assert.deepEqual(decodePathRequest(pkt(FXP.OPEN, 9, '/srv/a b.txt', PFLAG.READ, ATTRS_NONE)), { type: FXP.OPEN, id: 9, path: '/srv/a b.txt', pflags: PFLAG.READ });
    assert.equal(decodePathRequest(pkt(FXP.OPEN, 9, 'x', PFLAG.WRITE | PFLAG.APPEND | PFLAG.EXCL, ATTRS_NONE)).type, FXP.OPEN);
  });

  it('requests of one path', () => {
    for (const type of [FXP.OPENDIR, FXP.REMOVE, FXP.RMDIR, FXP.REALPATH, FXP.STAT, FXP.LSTAT, FXP.READLINK]) {
      assert.ok(isPathRequest(type));
      assert.deepEqual(decodePathRequest(pkt(type, 77, 'dir/é')), { type, id: 77, path: 'dir/é' });
    }
    // Attributes after the path are left as sent.
    assert.deepEqual(decodePathRequest(pkt(FXP.MKDIR, 1, '/new', 4, 0o755)), { type: FXP.MKDIR, id: 1, path: '/new' });
    assert.deepEqual(decodePathRequest(pkt(FXP.SETSTAT, 2, '/f', 4, 0o600)), { type: FXP.SETSTAT, id: 2, path: '/f' });
  });

  it('RENAME and SYMLINK: two paths, in the order sent', () => {
    assert.deepEqual(decodePathRequest(pkt(FXP.RENAME, 3, '/a', '/b')), { type: FXP.RENAME, id: 3, path: '/a', other: '/b' });
    assert.deepEqual(decodePathRequest(pkt(FXP.SYMLINK, 4, 'target', '/link')), { type: FXP.SYMLINK, id: 4, path: 'target', other: '/link' });
  });

  it('EXTENDED: the paths of the known extensions, none for the others', () => {
    const ext = (name: string, ...fields: Field[]): unknown => decodePathRequest(pkt(FXP.EXTENDED, 5, name, ...fields));
    assert.deepEqual(ext('posix-rename@openssh.com', '/a', '/b'), { type: FXP.EXTENDED, id: 5, name: 'posix-rename@openssh.com', args: ['/a', '/b'] });
    assert.deepEqual(ext('hardlink@openssh.com', '/old', '/new'), { type: FXP.EXTENDED, id: 5, name: 'hardlink@openssh.com', args: ['/old', '/new'] });
    assert.deepEqual(ext('statvfs@openssh.com', '/'), { type: FXP.EXTENDED, id: 5, name: 'statvfs@openssh.com', args: ['/'] });
    assert.deepEqual(ext('lsetstat@openssh.com', '/l', 0), { type: FXP.EXTENDED, id: 5, name: 'lsetstat@openssh.com', args: ['/l'] });
    assert.deepEqual(ext('expand-path@openssh.com', '~/x'), { type: FXP.EXTENDED, id: 5, name: 'expand-path@openssh.com', args: ['~/x'] });
    assert.deepEqual(ext('home-directory', 'deploy'), { type: FXP.EXTENDED, id: 5, name: 'home-directory', args: ['deploy'] });
    assert.deepEqual(ext('limits@openssh.com'), { type: FXP.EXTENDED, id: 5, name: 'limits@openssh.com', args: [] });
    assert.deepEqual(ext('fsync@openssh.com', handle), { type: FXP.EXTENDED, id: 5, name: 'fsync@openssh.com', args: [] });
    assert.deepEqual(ext('check-file-name', '/x', 'sha256'), { type: FXP.EXTENDED, id: 5, name: 'check-file-name', args: [] });
  });

  it('refuses truncated fields, paths that are not UTF-8, and types without a path', () => {
    const open = pkt(FXP.OPEN, 9, '/srv/a', PFLAG.READ, ATTRS_NONE);
    const truncated = Buffer.from(open.subarray(0, 14));
    truncated.writeUInt32BE(truncated.length - 4);
    assert.throws(() => decodePathRequest(truncated), /runs past the end/);
    assert.throws(() => decodePathRequest(pkt(FXP.STAT, 1, Buffer.from([0x2f, 0xff, 0xfe]))), /not valid UTF-8/);
    assert.throws(() => decodePathRequest(pkt(FXP.READ, 1, handle, 0n, 10)), SftpProtocolError);
    assert.ok(!isPathRequest(FXP.READ));
    assert.ok(!isPathRequest(FXP.FSETSTAT));
  });

  it('handles, ids and lengths', () => {
    const write = pkt(FXP.WRITE, 42, handle, 1n << 40n, Buffer.alloc(32768));
    assert.equal(requestId(write), 42);
    const h = decodeHandle(write);
    assert.equal(h.id, 42);
    assert.deepEqual(h.handle, handle);
    assert.equal(writeDataLength(write.subarray(0, WRITE_HEAD_MAX), h.handle.length), 32768);
    assert.deepEqual(decodeHandle(pkt(FXP.HANDLE, 7, 'h-1')).handle, Buffer.from('h-1'));
    assert.equal(dataLength(pkt(FXP.DATA, 8, Buffer.alloc(1234)).subarray(0, 13)), 1234);
    assert.equal(statusCode(pkt(FXP.STATUS, 8, FX.EOF, 'End of file', '')), FX.EOF);
    assert.equal(firstName(pkt(FXP.NAME, 0, 1, '/home/deploy', 'drwx------ deploy', ATTRS_NONE)), '/home/deploy');
    assert.equal(firstName(pkt(FXP.NAME, 0, 0)), undefined);
  });
});

describe('SFTP packets the gateway writes', () => {
  it('STATUS, byte for byte', () => {
    assert.equal(
      encodeStatus(7, FX.PERMISSION_DENIED, 'portcullis: denied', 'en').toString('hex'),
      // length 37 | type 101 | id 7 | code 3 | "portcullis: denied" | "en"
      '00000025' + '65' + '00000007' + '00000003' + '00000012' + Buffer.from('portcullis: denied').toString('hex') + '00000002' + '656e',
    );
    assert.deepEqual(encodeStatus(1, FX.OP_UNSUPPORTED, 'no', ''), pkt(FXP.STATUS, 1, FX.OP_UNSUPPORTED, 'no', ''));
    assert.deepEqual(encodeStatus(0xffffffff, FX.OK, 'é'), pkt(FXP.STATUS, 0xffffffff, FX.OK, 'é', ''));
  });

  it('REALPATH', () => {
    assert.equal(encodeRealpath(0, '.').toString('hex'), '0000000a' + '10' + '00000000' + '00000001' + '2e');
  });
});
