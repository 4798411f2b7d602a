/**
 * `npm run bench:stale-probe`: stale reads while writes go on. A 3-node cluster of this checkout's
 * build; W writers set one node in a loop while R readers get it with `{ stale: true }` on the node
 * they follow (the leader, where the writes are applied); for the measured interval, the reads' and
 * writes' rates and the reads' latency. A stale read waits for the storage writes in flight when it
 * arrives (RaftRuntime.stateBarrier), so this is where a barrier that waited for a lull in the writes
 * would show (see README, "What each change bought").
 *
 * Options: --writers W (48), --readers R (16), --seconds S measured (8), --warmup S (2).
 */
import { parseArgs } from 'node:util';
import { HikariClient } from '@hikarikeeper/client';
import { withCluster } from './lib/cluster';
import { LatencyRecorder } from './lib/latency';
import { integer } from './lib/options';
import { formatCount } from './lib/report';

function options(): { writers: number; readers: number; seconds: number; warmup: number } {
  const { values } = parseArgs({ options: { writers: { type: 'string' }, readers: { type: 'string' }, seconds: { type: 'string' }, warmup: { type: 'string' } } });
  return {
    writers: integer('writers', values.writers, 48, 1, 1_000),
    readers: integer('readers', values.readers, 16, 1, 1_000),
    seconds: integer('seconds', values.seconds, 8, 1, 3_600),
    warmup: integer('warmup', values.warmup, 2, 0, 3_600),
  };
}

async function main(): Promise<void> {
  const o = options();
  await withCluster({ nodes: 3 }, async (cluster) => {
    const connect = () => HikariClient.connect({ endpoints: cluster.endpoints, clusterId: cluster.clusterId, session: false });
    const writers: HikariClient[] = [];
    const readers: HikariClient[] = [];
    try {
      for (let i = 0; i < o.writers; i++) writers.push(await connect());
      for (let i = 0; i < o.readers; i++) readers.push(await connect());
      await writers[0].create('/probe', 'x');
      for (const r of readers) await r.get('/probe'); // a linearizable read first: the reader follows the leader
      let stop = false;
      let measuring = false;
      let writes = 0;
      const reads = new LatencyRecorder();
      const writing = writers.map(async (c, i) => {
        while (!stop) {
          await c.set('/probe', `v${i}`);
          if (measuring) writes++;
        }
      });
      const reading = readers.map(async (c) => {
        while (!stop) {
          const t = process.hrtime.bigint();
          await c.get('/probe', { stale: true });
          if (measuring) reads.recordSince(t);
        }
      });
      process.stdout.write(`stale-read probe: ${o.writers} writers, ${o.readers} stale readers; warming up ${o.warmup} s, then measuring ${o.seconds} s\n`);
      await new Promise((r) => setTimeout(r, o.warmup * 1000));
      measuring = true;
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, o.seconds * 1000));
      measuring = false;
      const seconds = (performance.now() - t0) / 1000;
      stop = true;
      await Promise.allSettled([...writing, ...reading]);
      const s = reads.summary();
      process.stdout.write(
        `stale reads ${formatCount(s.count / seconds)}/s (p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms, max ${s.maxMs.toFixed(1)} ms); writes ${formatCount(writes / seconds)}/s\n`,
      );
    } finally {
      await Promise.allSettled([...writers, ...readers].map((c) => c.close()));
    }
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
