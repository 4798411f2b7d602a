#!/usr/bin/env node
/**
 * `npm start`: a local 3-node HikariKeeper cluster on 127.0.0.1 (client ports 7701-7703, peer ports
 * 7801-7803, admin ports 7781-7783, data under ./data/), printing the endpoints and who leads.
 * Ctrl-C stops it cleanly; a second `npm start` reuses the data.
 */
import { resolve } from 'node:path';
import { ProcessCluster, ProcessNode } from './process-cluster';

const SIZE = 3;

function describe(node: ProcessNode, line: string): string | null {
  try {
    const o = JSON.parse(line) as { level?: number; msg?: string; time?: number; [k: string]: unknown };
    if ((o.level ?? 30) < 30) return null;
    const { level: _l, msg, time, pid: _p, hostname: _h, node: _n, ...rest } = o;
    const when = new Date(time ?? Date.now()).toISOString().slice(11, 19);
    const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
    return `[n${node.id}] ${when} ${msg ?? ''}${fields ? `  ${fields}` : ''}`;
  } catch {
    return `[n${node.id}] ${line}`;
  }
}

async function main(): Promise<void> {
  const baseDir = resolve(process.env.HIKARI_DATA_DIR ?? 'data');
  const cluster = await ProcessCluster.create({
    size: SIZE,
    baseDir,
    clusterId: 'hikari-local',
    ports: (i) => ({ client: 7701 + i, peer: 7801 + i, admin: 7781 + i }),
    onLine: (node, line) => {
      const text = describe(node, line);
      if (text) console.log(text);
    },
  });
  console.log(`Starting a local ${SIZE}-node HikariKeeper cluster (data in ${baseDir}) ...`);
  cluster.startAll();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping the cluster ...');
    await cluster.stopAll();
    console.log('Stopped. `npm start` again reuses the data.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  for (const n of cluster.nodes) {
    n.process?.once('exit', (code, signal) => {
      if (!stopping) console.log(`[n${n.id}] exited (code ${code}, signal ${signal})`);
    });
  }
  const leader = await cluster.waitForLeader(30_000);
  console.log('\nHikariKeeper is running.');
  console.log('  node  client           admin            peer');
  for (const n of cluster.nodes) console.log(`  n${n.id}${n.id === leader ? '*' : ' '}  ${n.client.padEnd(16)} ${n.admin.padEnd(16)} ${n.peer}`);
  console.log(`  (* leader)   endpoints: ${cluster.endpoints.join(',')}`);
  console.log(`  status: curl http://${cluster.node(leader).admin}/status    metrics: /metrics    Ctrl-C to stop\n`);
  if (process.env.HIKARI_EXIT_WHEN_READY === '1') await stop();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
