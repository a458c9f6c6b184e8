// A bare Node.js TCP relay (each accepted socket piped to a new connection to the target, and
// back, TCP_NODELAY on both): what any Node.js proxy costs before it reads a byte, so that the
// tables show how much of Portcullis's overhead is Node.js's own. Started as its own process
// (this file run as a script) so that its CPU time is its own.
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, startService, waitForPort, type Service } from './proc.ts';

export interface TcpPipe {
  readonly port: number;
  readonly describe: string;
  readonly service: Service;
  stop(): Promise<void>;
}

export async function startTcpPipe(target: { host: string; port: number }): Promise<TcpPipe> {
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const service = startService(process.execPath, ['--import', 'tsx', script, String(port), target.host, String(target.port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const alive = (): boolean => service.child.exitCode === null && service.child.signalCode === null;
  if (!(await waitForPort(port, 30_000, alive))) {
    await service.stop();
    throw new Error(`the Node.js TCP relay did not start on 127.0.0.1:${port}:\n${service.output()}`);
  }
  return { port, describe: `Node.js ${process.version} net.Socket pipe() both ways, TCP_NODELAY (bench/lib/tcp-pipe.ts)`, service, stop: () => service.stop() };
}

function relay(listenPort: number, host: string, port: number): void {
  net
    .createServer((client) => {
      const upstream = net.connect(port, host);
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    })
    .listen(listenPort, '127.0.0.1');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) relay(Number(process.argv[2]), process.argv[3] as string, Number(process.argv[4]));
