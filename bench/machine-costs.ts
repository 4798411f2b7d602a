/**
 * `npm run bench:machine`: what this machine charges for the things a replicated, durable service
 * does on every request and that an in-memory single-process one does not — a message to another
 * process, a hop to a worker thread and back, an fsync — measured alone, one at a time, in wall time
 * and in CPU time. On a virtual machine these can cost several times what they cost on bare metal,
 * and a cluster whose processes share the cores pays them out of the same CPU that serves requests.
 *
 * Rows (each the median of --rounds runs of N operations, one at a time):
 * - loopback round trip: a 1-byte message to a second Node process over TCP on 127.0.0.1 and its
 *   echo back (each side: one write, one wake-up, one read); CPU of both processes;
 * - the same with 64 connections at once, each in a closed loop of 64-byte messages: the least CPU a
 *   Node.js server (the echo side) spends per request on 64 busy connections, before doing any work;
 * - thread-pool hop: `fs.fstat` of an open file, i.e. a job to libuv's pool and its completion back
 *   on the event loop (how RocksDB's reads and writes reach the pool);
 * - write + fdatasync: 1 KiB appended to a file in the temporary folder, then `fdatasync`; and the
 *   same in three processes at once, each on its own file (a cluster's three nodes on one machine):
 *   wall time per fsync as each sees it (their median), CPU per fsync over all three;
 * - RocksDB synced write: a batch of 10 puts of 100 bytes, `sync: true` (what a Raft Ready's write
 *   costs at the least), and the same not synced.
 *
 * Options: --rounds R (3), --out FILE (bench/results/machine.jsonl). Linux only (/proc for the echo
 * process's CPU).
 */
import { fork } from 'node:child_process';
import { closeSync, fdatasync, fdatasyncSync, fstat, mkdtempSync, openSync, rmSync, write, writeSync } from 'node:fs';
import { AddressInfo, createServer, connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RocksStore, WriteBatch } from '@hikarikeeper/server/dist/storage/rocks';
import { processCpuSeconds } from './lib/cpu';
import { integer } from './lib/options';
import { appendResults, describeMachine, formatCount, makeTable, renderTable, runMetadata } from './lib/report';
import { median } from './lib/comparison';

interface Measure {
  name: string;
  /** Operations per round. */
  ops: number;
  run(ops: number): Promise<Sample>;
}

interface Sample {
  wallUs: number;
  /** CPU of this process per operation (all its threads). */
  cpuUs: number;
  /** CPU of the other process per operation (the echo), if there is one. */
  peerCpuUs: number | null;
}

interface Row {
  name: string;
  ops: number;
  wallUs: number;
  cpuUs: number;
  peerCpuUs: number | null;
}

/** Runs `body` (ops operations, one at a time) and times it in wall and CPU time. */
async function timed(ops: number, body: () => Promise<void>, peerPid: number | null = null): Promise<Sample> {
  const peerBefore = peerPid === null ? null : processCpuSeconds(peerPid);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await body();
  const wallUs = Number(process.hrtime.bigint() - t0) / 1e3 / ops;
  const cpu = process.cpuUsage(cpu0);
  const peerAfter = peerPid === null ? null : processCpuSeconds(peerPid);
  const peerCpuUs = peerBefore === null || peerAfter === null ? null : ((peerAfter - peerBefore) * 1e6) / ops;
  return { wallUs, cpuUs: (cpu.user + cpu.system) / ops, peerCpuUs };
}

// ---------------------------------------------------------------- loopback round trip

const ECHO_ARG = '--echo-server';

/** The echo process: sends every byte back; tells its parent the port. */
function echoServer(): void {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (d) => socket.write(d));
  });
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
  process.on('disconnect', () => process.exit(0));
}

/** Runs `body` with an echo process (its port and pid), which is killed afterwards. */
async function withEcho<T>(body: (port: number, pid: number | null) => Promise<T>): Promise<T> {
  const child = fork(__filename, [ECHO_ARG], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve(m as number));
      child.once('exit', (code) => reject(new Error(`the echo process exited (${code})`)));
    });
    return await body(port, child.pid ?? null);
  } finally {
    child.kill();
  }
}

/** A connection to the echo process on `port`, without Nagle's delay. */
function connectEcho(port: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function loopbackRoundTrips(ops: number): Promise<Sample> {
  return withEcho(async (port, pid) => {
    const socket = await connectEcho(port);
    const one = Buffer.from('x');
    try {
      // Warm up the path (JIT, socket buffers) before measuring.
      await pingPong(socket, one, Math.min(2_000, ops));
      return await timed(ops, () => pingPong(socket, one, ops), pid);
    } finally {
      socket.destroy();
    }
  });
}

/**
 * 64 connections to the echo process, each in a closed loop of 64-byte requests (the `locks`
 * benchmark's shape: 64 workers, one connection each): what any Node.js server pays per request
 * for its socket reads and writes alone when many connections are busy at once, with no work
 * between them. `ops` requests in all.
 */
async function concurrentRoundTrips(ops: number, connections = 64): Promise<Sample> {
  return withEcho(async (port, pid) => {
    const sockets = await Promise.all(Array.from({ length: connections }, () => connectEcho(port)));
    const request = Buffer.alloc(64, 0x63);
    const each = Math.ceil(ops / connections);
    try {
      await Promise.all(sockets.map((s) => pingPong(s, request, Math.min(200, each))));
      return await timed(each * connections, () => Promise.all(sockets.map((s) => pingPong(s, request, each))).then(() => undefined), pid);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
}

/** One message at a time on `socket`, `ops` times; a 64-byte message's echo may come in pieces. */
function pingPong(socket: Socket, one: Buffer, ops: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let n = 0;
    let pending = one.length;
    const onData = (d: Buffer): void => {
      pending -= d.length;
      if (pending > 0) return;
      pending = one.length;
      if (++n < ops) socket.write(one);
      else {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.write(one);
  });
}

// ---------------------------------------------------------------- thread pool, fsync, RocksDB

async function poolHops(ops: number): Promise<Sample> {
  const fd = openSync(__filename, 'r');
  try {
    const hop = () => new Promise<void>((resolve, reject) => fstat(fd, (err) => (err ? reject(err) : resolve())));
    for (let i = 0; i < 1_000; i++) await hop();
    return await timed(ops, async () => {
      for (let i = 0; i < ops; i++) await hop();
    });
  } finally {
    closeSync(fd);
  }
}

async function fdatasyncs(dir: string, ops: number): Promise<Sample> {
  const fd = openSync(join(dir, 'fsync.dat'), 'w');
  const data = Buffer.alloc(1024, 0x61);
  const once = () => new Promise<void>((resolve, reject) => {
    write(fd, data, (err) => (err ? reject(err) : fdatasync(fd, (err2) => (err2 ? reject(err2) : resolve()))));
  });
  try {
    for (let i = 0; i < 100; i++) await once();
    return await timed(ops, async () => {
      for (let i = 0; i < ops; i++) await once();
    });
  } finally {
    closeSync(fd);
  }
}

const FSYNC_WORKER_ARG = '--fsync-worker';

/** A child of `concurrentFdatasyncs`: `ops` × (1 KiB write + fdatasync) on its own file, then its wall and CPU time. */
function fsyncWorker(file: string, ops: number): void {
  const fd = openSync(file, 'w');
  const data = Buffer.alloc(1024, 0x61);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    writeSync(fd, data);
    fdatasyncSync(fd);
  }
  const wallUs = Number(process.hrtime.bigint() - t0) / 1e3;
  const cpu = process.cpuUsage(cpu0);
  closeSync(fd);
  process.send?.({ wallUs, cpuUs: cpu.user + cpu.system }, () => process.exit(0));
}

/**
 * Three processes at once, each appending 1 KiB and fdatasync-ing its own file on the same file
 * system, `ops` in all (what a cluster's three nodes do on one machine): wall time per fsync as each
 * process sees it, and CPU per fsync over all three.
 */
async function concurrentFdatasyncs(dir: string, ops: number, processes = 3): Promise<Sample> {
  const each = Math.ceil(ops / processes);
  const results = await Promise.all(Array.from({ length: processes }, (_, i) => new Promise<{ wallUs: number; cpuUs: number }>((resolve, reject) => {
    const child = fork(__filename, [FSYNC_WORKER_ARG, join(dir, `fsync-${i}.dat`), String(each)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => resolve(m as { wallUs: number; cpuUs: number }));
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`an fsync process exited (${code})`))));
  })));
  return {
    wallUs: median(results.map((r) => r.wallUs / each)),
    cpuUs: results.reduce((sum, r) => sum + r.cpuUs, 0) / (each * processes),
    peerCpuUs: null,
  };
}

async function rocksWrites(dir: string, ops: number, sync: boolean): Promise<Sample> {
  const store = await RocksStore.open(join(dir, `rocks-${sync ? 'sync' : 'nosync'}`));
  const value = Buffer.alloc(100, 0x62);
  let n = 0;
  const once = () => {
    const batch = new WriteBatch();
    for (let k = 0; k < 10; k++) batch.put(Buffer.from(`key-${n}-${k}`), value);
    n++;
    return store.write(batch, { sync });
  };
  try {
    for (let i = 0; i < 100; i++) await once();
    return await timed(ops, async () => {
      for (let i = 0; i < ops; i++) await once();
    });
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------- main

function options(): { rounds: number; out: string } {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, out: { type: 'string' } } });
  return { rounds: integer('rounds', values.rounds, 3, 1, 20), out: values.out ?? 'bench/results/machine.jsonl' };
}

async function main(): Promise<void> {
  const o = options();
  const meta = runMetadata();
  const dir = mkdtempSync(join(tmpdir(), 'hk-machine-'));
  const measures: Measure[] = [
    { name: 'loopback round trip (2 processes, TCP)', ops: 20_000, run: (n) => loopbackRoundTrips(n) },
    { name: 'the same, 64 connections at once, 64 B each way', ops: 64_000, run: (n) => concurrentRoundTrips(n) },
    { name: 'thread-pool hop (fs.fstat)', ops: 20_000, run: (n) => poolHops(n) },
    { name: '1 KiB write + fdatasync', ops: 2_000, run: (n) => fdatasyncs(dir, n) },
    { name: 'the same, 3 processes at once (each its own file)', ops: 3_000, run: (n) => concurrentFdatasyncs(dir, n) },
    { name: 'RocksDB write, 10 × 100 B, synced', ops: 2_000, run: (n) => rocksWrites(dir, n, true) },
    { name: 'RocksDB write, 10 × 100 B, not synced', ops: 20_000, run: (n) => rocksWrites(dir, n, false) },
  ];
  console.log(`machine costs: each row the median of ${o.rounds} rounds, operations one at a time; data in ${dir}`);
  console.log(describeMachine(meta));
  console.log('');
  const rows: Row[] = [];
  try {
    for (const m of measures) {
      const samples: Sample[] = [];
      for (let r = 0; r < o.rounds; r++) samples.push(await m.run(m.ops));
      const peers = samples.map((s) => s.peerCpuUs).filter((v): v is number => v !== null);
      rows.push({
        name: m.name,
        ops: m.ops,
        wallUs: median(samples.map((s) => s.wallUs)),
        cpuUs: median(samples.map((s) => s.cpuUs)),
        peerCpuUs: peers.length > 0 ? median(peers) : null,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const us = (n: number) => (n >= 100 ? formatCount(n) : n.toFixed(1));
  const table = makeTable<Row>([
    { header: 'operation', align: 'left', value: (r) => r.name },
    { header: 'ops per round', value: (r) => formatCount(r.ops) },
    { header: 'wall µs / op', value: (r) => us(r.wallUs) },
    { header: 'CPU µs / op', value: (r) => us(r.cpuUs) },
    { header: 'echo process CPU µs / op', value: (r) => (r.peerCpuUs === null ? '' : us(r.peerCpuUs)) },
  ], rows);
  for (const line of renderTable(table)) console.log(line);
  console.log('');
  console.log('CPU µs / op: this process, all its threads (the pool and RocksDB\'s included); a round trip\'s echo side is the last column.');
  appendResults(o.out, 'machine', meta, { rounds: o.rounds }, rows.map((r) => ({ ...r })));
  console.log(`results appended to ${o.out}`);
}

if (process.argv.includes(ECHO_ARG)) echoServer();
else if (process.argv[2] === FSYNC_WORKER_ARG) fsyncWorker(process.argv[3], Number(process.argv[4]));
else {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(`bench:machine: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exit(1);
    },
  );
}
