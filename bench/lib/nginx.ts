// nginx (Debian's) as a reverse proxy in front of one upstream: a throwaway config in a temp
// folder, one worker (the gateway is one event loop too), keepalive to the upstream, an
// injected Authorization header, the access log on (buffered), stopped at cleanup.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cleanup.ts';
import { freePort, run, startService, waitForPort, type Service } from './proc.ts';

export const NGINX = '/usr/sbin/nginx';

export interface Nginx {
  readonly port: number;
  readonly version: string;
  readonly describe: string;
  readonly service: Service;
  stop(): Promise<void>;
}

export interface NginxOptions {
  readonly upstreamPort: number;
  /** Requests to `<location>...` go to `<upstreamPath>...` on the upstream, e.g. `/api/` -> `/v1/`. */
  readonly location: string;
  readonly upstreamPath: string;
  /** Sent upstream as `Authorization: Bearer <token>` (the client sends none). */
  readonly bearer?: string;
}

export async function startNginx(opts: NginxOptions): Promise<Nginx> {
  const dir = tempDir('pcs-bench-nginx-');
  for (const sub of ['logs', 'temp']) mkdirSync(join(dir, sub));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const errorLog = join(dir, 'logs', 'error.log');
  writeFileSync(
    conf,
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${errorLog} warn;
events { worker_connections 1024; }
http {
  access_log ${dir}/logs/access.log combined buffer=64k flush=1s;
  client_body_temp_path ${dir}/temp/body;
  proxy_temp_path ${dir}/temp/proxy;
  fastcgi_temp_path ${dir}/temp/fastcgi;
  uwsgi_temp_path ${dir}/temp/uwsgi;
  scgi_temp_path ${dir}/temp/scgi;
  keepalive_requests 100000;
  upstream backend {
    server 127.0.0.1:${opts.upstreamPort};
    keepalive 64;
    keepalive_requests 100000;
  }
  server {
    listen 127.0.0.1:${port};
    location ${opts.location} {
      proxy_pass http://backend${opts.upstreamPath};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
${opts.bearer !== undefined ? `      proxy_set_header Authorization "Bearer ${opts.bearer}";\n` : ''}    }
  }
}
`,
    { mode: 0o600 },
  );
  // SIGQUIT: graceful, the worker flushes its access log and exits.
  const service = startService(NGINX, ['-e', errorLog, '-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'], stopSignal: 'SIGQUIT' });
  const alive = (): boolean => service.child.exitCode === null && service.child.signalCode === null;
  if (!(await waitForPort(port, 10_000, alive))) {
    await service.stop('SIGTERM', 3000);
    const errors = existsSync(errorLog) ? readFileSync(errorLog, 'utf8').slice(-2000) : '';
    throw new Error(`nginx did not start on 127.0.0.1:${port}:\n${service.output()}${errors}`);
  }
  const version = (await run(NGINX, ['-v'])).stderr.trim().replace(/^nginx version: /, '');
  return {
    port,
    version,
    describe: `${version}, 1 worker, keepalive 64 to the upstream, access log on (buffer=64k)`,
    service,
    stop: () => service.stop('SIGQUIT', 3000),
  };
}
