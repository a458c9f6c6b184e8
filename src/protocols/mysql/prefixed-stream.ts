// The client's socket as a stream whose first bytes are ones already read from it: a client
// (mysql2) may send its TLS ClientHello in the same chunk as its SSLRequest, and those bytes
// were read into the login's packet reader. The TLS layer must see them first. They are not
// trusted as plain text: they enter TLS's record parser like every later byte, so nothing
// pipelined before the handshake can pass as sent inside TLS.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export function prefixedStream(socket: Socket, prefix: Buffer): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, (err) => callback(err ?? null));
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  stream.push(prefix);
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  socket.on('error', (err) => stream.destroy(err));
  return stream;
}
