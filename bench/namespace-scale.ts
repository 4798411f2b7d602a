/**
 * `npm run bench:scale -- [--nodes 1000000]`: fills a single-node server with N nodes (1,000 creates
 * per `multi`), stops it, starts it again on the same data, and reports the time until it is ready,
 * its heap and resident memory (from its /metrics), and a read of a random node. The point: the
 * namespace lives in RocksDB, so start time and heap do not grow with the number of nodes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { HikariClient, MultiOpInput } from '@hikarikeeper/client';
import { ProcessCluster } from '@hikarikeeper/server/dist/tools/process-cluster';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function metric(admin: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function main(): Promise<void> {
  const total = arg('nodes', 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'hk-scale-'));
  const cluster = await ProcessCluster.create({ size: 1, baseDir: dir, clusterId: 'scale', serverScript: resolve(__dirname, '..', '..', 'server', 'dist', 'main.js'), extraArgs: ['--snapshot-every', '100'] });
  try {
    cluster.startAll();
    await cluster.waitForLeader();
    const admin = cluster.node(1).admin;
    const heapEmpty = await metric(admin, 'nodejs_heap_size_used_bytes');
    const client = await HikariClient.connect({ endpoints: cluster.endpoints, clusterId: 'scale', session: false });
    const parents = Math.ceil(total / 10_000);
    for (let p = 0; p < parents; p++) await client.create(`/p${p}`, '');
    const started = Date.now();
    const perMulti = 1000;
    const inFlight: Array<Promise<unknown>> = [];
    for (let done = 0; done < total; done += perMulti) {
      const ops: MultiOpInput[] = [];
      for (let i = done; i < Math.min(total, done + perMulti); i++) ops.push({ op: 'create', path: `/p${Math.floor(i / 10_000)}/k${i}`, data: Buffer.from(`value-${i}`), mode: 'persistent' } as MultiOpInput);
      inFlight.push(client.multi(ops, { timeoutMs: 120_000 }));
      if (inFlight.length >= 8) await inFlight.shift();
      if (done % 100_000 === 0) process.stdout.write(`\r${done.toLocaleString('en-US')} nodes ...`);
    }
    await Promise.all(inFlight);
    const fillSeconds = (Date.now() - started) / 1000;
    const heapFull = await metric(admin, 'nodejs_heap_size_used_bytes');
    await client.close();
    await cluster.stopAll();
    const restart = Date.now();
    cluster.startAll();
    await cluster.waitForLeader(120_000);
    const readySeconds = (Date.now() - restart) / 1000;
    const heapAfterRestart = await metric(admin, 'nodejs_heap_size_used_bytes');
    const rss = await metric(admin, 'process_resident_memory_bytes');
    const again = await HikariClient.connect({ endpoints: cluster.endpoints, clusterId: 'scale', session: false });
    const probe = Math.floor(total / 2) + 7;
    const value = (await again.get(`/p${Math.floor(probe / 10_000)}/k${probe}`)).data.toString();
    const count = (await again.exists(`/p${Math.floor(probe / 10_000)}`))?.stat.childrenCount;
    await again.close();
    const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
    console.log(`\nnamespace scale: ${total.toLocaleString('en-US')} nodes in ${parents} directories, single node, data synced to disk`);
    console.log('| measure | value |\n|---|---:|');
    console.log(`| fill (1,000 creates per multi) | ${fillSeconds.toFixed(1)} s (${Math.round(total / fillSeconds).toLocaleString('en-US')} nodes/s) |`);
    console.log(`| heap used, empty | ${mb(heapEmpty)} |`);
    console.log(`| heap used, after the fill | ${mb(heapFull)} |`);
    console.log(`| restart until leader elected and ready | ${readySeconds.toFixed(2)} s |`);
    console.log(`| heap used after restart | ${mb(heapAfterRestart)} |`);
    console.log(`| resident memory after restart | ${mb(rss)} |`);
    console.log(`| read of node ${probe} after restart | ${value === `value-${probe}` ? 'correct' : `WRONG: ${value}`} (its directory holds ${count} children) |`);
  } finally {
    await cluster.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
