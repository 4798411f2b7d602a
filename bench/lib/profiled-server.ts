/**
 * The server's entry point under the V8 CPU profiler, for `npm run bench -- <workload> --cpu-prof DIR`.
 * (`node --cpu-prof` is refused in NODE_OPTIONS, and ProcessCluster passes no node flags, so the
 * profiler is started from inside instead.) Takes the server's own arguments; writes
 * DIR/n<id>.cpuprofile when the process exits normally (SIGTERM → graceful stop → exit), not on
 * SIGKILL. Open the file in Chrome DevTools (Performance) or speedscope.
 *
 * DIR comes from the environment (PROFILE_DIR_ENV), which the server processes inherit.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { PROFILE_DIR_ENV, serverScript } from './cluster';

/** Sampling interval: finer than V8's default 1 ms, still cheap. */
const SAMPLING_INTERVAL_US = 250;

function main(): void {
  const dir = process.env[PROFILE_DIR_ENV];
  const at = process.argv.indexOf('--id');
  const id = at >= 0 ? process.argv[at + 1] : String(process.pid);
  if (dir) {
    const session = new Session();
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    session.post('Profiler.start');
    // A same-thread inspector session answers synchronously, so this completes inside 'exit'.
    process.on('exit', () => {
      session.post('Profiler.stop', (err, result) => {
        if (!err) writeFileSync(join(dir, `n${id}.cpuprofile`), JSON.stringify(result.profile));
      });
    });
  }
  require(serverScript());
}

main();
