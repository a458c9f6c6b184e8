// A preload for profiling a running gateway: SIGUSR2 starts the V8 CPU profiler of the main
// thread, the next SIGUSR2 stops it and writes `<pid>-<n>.cpuprofile` into PCS_PROFILE_DIR
// (default: the working directory), to open in Chrome DevTools or speedscope. Unlike
// --cpu-prof (which NODE_OPTIONS refuses), it profiles just the window of one load run:
//
//   NODE_OPTIONS="--import ./bench/profile-on-signal.mjs" node bin/portcullis.js start
//   kill -USR2 <pid>; pgbench ...; kill -USR2 <pid>
//
// Plain JavaScript: it is loaded before the gateway registers its TypeScript loader.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.PCS_PROFILE_DIR ?? process.cwd();
const session = new Session();
session.connect();
let running = false;
let written = 0;

process.on('SIGUSR2', () => {
  if (!running) {
    running = true;
    session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 200 }, () => session.post('Profiler.start')));
    return;
  }
  running = false;
  session.post('Profiler.stop', (err, result) => {
    if (err) return void process.stderr.write(`profile-on-signal: ${err.message}\n`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${process.pid}-${written++}.cpuprofile`);
    writeFileSync(file, JSON.stringify(result.profile));
    process.stderr.write(`profile-on-signal: wrote ${file}\n`);
  });
});
