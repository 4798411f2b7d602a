/**
 * The client protocol under hostile input: a property test (fast-check) that feeds a real 3-node
 * cluster random and mutated frames and random operation sequences, over raw TCP connections, and
 * checks that
 *
 * - every message a node sends back is a well-formed envelope with a known error code, never
 *   INTERNAL (an unexpected exception on the node);
 * - every request that reached a node inside a decodable frame is answered, unless the node closed
 *   the connection, and a node closes a connection only after saying why (an error about the
 *   connection, id 0: BAD_FRAME, TOO_LARGE): malformed input gets an error or a clean disconnect;
 * - no node crashes or logs an unexpected failure;
 * - the cluster still serves a client afterwards, and every replica ends with the same state
 *   (the state range of the three RocksDBs, compared byte for byte once the cluster is quiet).
 *
 * `npm test` runs it with a fixed seed (test/cluster/fuzz.test.ts); `npm run fuzz -- --runs N
 * --seed S` runs longer (test/fuzz/cli.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  decodeEnvelope, encodeBody, encodeEnvelope, encodeFrame, Envelope, FRAME_HEADER_BYTES, FrameDecoder, isErrorCode, OPERATIONS,
} from '@hikarikeeper/protocol';
import { HikariClient } from '@hikarikeeper/client';
import { ProcessCluster } from '@hikarikeeper/server/dist/tools/process-cluster';
import { RocksStore } from '@hikarikeeper/server/dist/storage/rocks';
import { STATE_RANGE } from '@hikarikeeper/server/dist/coordination/keys';

export interface FuzzOptions {
  readonly seed: number;
  /** Connections fed (each a scenario of up to `framesMax` frames). */
  readonly runs: number;
  readonly framesMax?: number;
  /** The built server's entry point. */
  readonly serverScript: string;
  readonly log?: (line: string) => void;
}

export interface FuzzReport {
  readonly runs: number;
  readonly frames: number;
  readonly answers: number;
  readonly disconnects: number;
  /** Answers by code ('ok' for results). */
  readonly codes: Record<string, number>;
  readonly replicaRecords: number;
}

/** How long a node has to answer every request of a scenario (or close the connection). */
const ANSWER_WAIT_MS = 10_000;

// ---------------------------------------------------------------- what is sent

type Item =
  | { readonly kind: 'request'; readonly op: string; readonly args: unknown }
  | { readonly kind: 'envelope'; readonly value: unknown }
  | { readonly kind: 'body'; readonly bytes: Uint8Array }
  | { readonly kind: 'mutated'; readonly op: string; readonly args: unknown; readonly at: number; readonly xor: number; readonly cut: number }
  | { readonly kind: 'header'; readonly length: number; readonly tail: Uint8Array };

interface Scenario {
  /** 0–2: the leader; 3, 4: a follower. */
  readonly node: number;
  readonly hello: boolean;
  readonly items: readonly Item[];
  /** Sizes the byte stream is cut into (cycled). */
  readonly chunks: readonly number[];
}

const PATHS = ['/fz', '/fz/a', '/fz/b', '/fz/a/x', '/fz/b/y', '/fz/seq-', '/services', '/services/fz/i1', '/'];
const LOCKS = ['fz-l1', 'fz-l2', 'election:fz'];
const path = fc.constantFrom(...PATHS);
const lock = fc.constantFrom(...LOCKS);
const data = fc.uint8Array({ maxLength: 32 });
const version = fc.integer({ min: -1, max: 3 });
const seq = fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined });

const multiOp = fc.oneof(
  fc.record({ op: fc.constant('check'), path, version }),
  fc.record({ op: fc.constant('create'), path, data, mode: fc.constantFrom('persistent', 'persistent_sequential') }),
  fc.record({ op: fc.constant('set'), path, data, version }),
  fc.record({ op: fc.constant('delete'), path, version }),
  fc.record({ op: fc.constant('fence'), lock, token: fc.integer({ min: 1, max: 50 }) }),
);

/** Well-formed requests on a small key space, so that they collide: creates, deletes, locks, sessions, watches. */
const validRequest: fc.Arbitrary<Item> = fc.oneof(
  fc.record({ op: fc.constant('create'), args: fc.record({ path, data, mode: fc.constantFrom('persistent', 'persistent_sequential', 'ephemeral'), seq }) }),
  fc.record({ op: fc.constant('set'), args: fc.record({ path, data, version, seq }) }),
  fc.record({ op: fc.constant('delete'), args: fc.record({ path, version, seq }) }),
  fc.record({ op: fc.constantFrom('get', 'exists', 'children'), args: fc.record({ path, stale: fc.boolean() }) }),
  fc.record({ op: fc.constant('multi'), args: fc.record({ ops: fc.array(multiOp, { minLength: 1, maxLength: 4 }), seq }) }),
  fc.record({ op: fc.constant('watch'), args: fc.record({ path, kind: fc.constantFrom('data', 'children', 'recursive') }) }),
  fc.record({ op: fc.constant('unwatch'), args: fc.record({ watchId: fc.integer({ min: 1, max: 1000 }) }) }),
  fc.record({ op: fc.constant('session.open'), args: fc.record({ timeoutMs: fc.integer({ min: 1000, max: 2000 }), attach: fc.boolean() }) }),
  fc.record({ op: fc.constant('session.keepalive'), args: fc.constant({}) }),
  fc.record({ op: fc.constant('lock.acquire'), args: fc.record({ name: lock, wait: fc.boolean(), seq }) }),
  fc.record({ op: fc.constantFrom('lock.release'), args: fc.record({ name: lock, token: fc.integer({ min: 1, max: 50 }), seq }) }),
  fc.record({ op: fc.constantFrom('lock.cancel'), args: fc.record({ name: lock, ticket: fc.integer({ min: 1, max: 500 }), seq }) }),
  fc.record({ op: fc.constant('lock.info'), args: fc.record({ name: lock }) }),
  fc.record({ op: fc.constantFrom('ping', 'sync'), args: fc.constant({}) }),
).map((r) => ({ kind: 'request' as const, op: r.op, args: r.args }));

/** Any value msgpack can carry, nested a little. */
const anyValue = fc.anything({ maxDepth: 3, maxKeys: 5, withBoxedValues: false, withNullPrototype: false, withObjectString: false, withSparseArray: false });

const opName = fc.oneof(fc.constantFrom(...Object.keys(OPERATIONS)), fc.string({ maxLength: 70 }), fc.constantFrom('__proto__', 'constructor', 'toString'));

const randomRequest: fc.Arbitrary<Item> = fc.record({
  op: opName,
  args: fc.oneof(anyValue, fc.dictionary(fc.constantFrom('path', 'data', 'mode', 'version', 'name', 'token', 'ticket', 'ops', 'kind', 'seq', 'stale', 'timeoutMs', 'sessionIds', 'x'), anyValue, { maxKeys: 5 })),
}).map((r) => ({ kind: 'request' as const, op: r.op, args: r.args }));

/** Requests in well-formed frames: the node answers each, and the connection lives on. */
const cleanItem: fc.Arbitrary<Item> = fc.oneof({ arbitrary: validRequest, weight: 3 }, { arbitrary: randomRequest, weight: 1 });

/** Frames a node cannot take as a request (it may close the connection after them). */
const malformedItem: fc.Arbitrary<Item> = fc.oneof(
  { arbitrary: anyValue.map((value) => ({ kind: 'envelope' as const, value })), weight: 1 },
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({ kind: 'body' as const, bytes })), weight: 1 },
  {
    arbitrary: fc.tuple(validRequest, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat()).map(([req, at, xor, cut]) => {
      const r = req as Extract<Item, { kind: 'request' }>;
      return { kind: 'mutated' as const, op: r.op, args: r.args, at, xor, cut };
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ length: fc.oneof(fc.constant(0), fc.integer({ min: 4 * 1024 * 1024 + 1, max: 0xffff_ffff })), tail: fc.uint8Array({ maxLength: 16 }) }).map((h) => ({ kind: 'header' as const, ...h })),
    weight: 1,
  },
);

/**
 * A connection: mostly requests (to the leader more often than not, so that writes apply), and in
 * about a third of them one malformed frame somewhere in the stream.
 */
function scenarios(framesMax: number): fc.Arbitrary<Scenario> {
  return fc.record({
    node: fc.integer({ min: 0, max: 4 }),
    hello: fc.oneof({ arbitrary: fc.constant(true), weight: 9 }, { arbitrary: fc.constant(false), weight: 1 }),
    items: fc.array(cleanItem, { minLength: 1, maxLength: framesMax }),
    bad: fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: fc.tuple(malformedItem, fc.nat()), weight: 1 }),
    chunks: fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 4 }),
  }).map(({ node, hello, items, bad, chunks }) => ({
    node,
    hello,
    items: bad === null ? items : [...items.slice(0, bad[1] % (items.length + 1)), bad[0], ...items.slice(bad[1] % (items.length + 1))],
    chunks,
  }));
}

/** The bytes of one item (request id `id`), and whether a node can read an id in it (then it must answer it). */
function encodeItem(item: Item, id: number): { bytes: Buffer; answerable: boolean } {
  switch (item.kind) {
    case 'request':
      return { bytes: encodeFrame(encodeBody({ t: 1, id, op: item.op, a: item.args })), answerable: item.op !== 'lock.wait' };
    case 'envelope':
      return { bytes: encodeFrame(encodeBody(item.value)), answerable: false };
    case 'body':
      return { bytes: encodeFrame(item.bytes), answerable: false };
    case 'mutated': {
      const frame = Buffer.from(encodeFrame(encodeBody({ t: 1, id, op: item.op, a: item.args })));
      const at = FRAME_HEADER_BYTES + (item.at % (frame.length - FRAME_HEADER_BYTES));
      frame[at]! ^= item.xor;
      const body = frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + 1 + (item.cut % (frame.length - FRAME_HEADER_BYTES)));
      return { bytes: encodeFrame(body), answerable: false };
    }
    case 'header': {
      const header = Buffer.alloc(FRAME_HEADER_BYTES);
      header.writeUInt32BE(item.length, 0);
      return { bytes: Buffer.concat([header, item.tail]), answerable: false };
    }
  }
}

// ---------------------------------------------------------------- one connection

interface Exchange {
  readonly received: Envelope[];
  closed: boolean;
  /** A frame from the node that could not be decoded (a node bug). */
  garbage: string | null;
}

function openRaw(address: string): Promise<{ socket: Socket; exchange: Exchange }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => {
      const exchange: Exchange = { received: [], closed: false, garbage: null };
      const decoder = new FrameDecoder();
      socket.on('data', (chunk: Buffer) => {
        try {
          for (const body of decoder.push(chunk)) exchange.received.push(decodeEnvelope(body));
        } catch (e) {
          exchange.garbage ??= String(e);
        }
      });
      socket.on('close', () => (exchange.closed = true));
      resolve({ socket, exchange });
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

/** Runs one scenario; throws (a failed property) with what went wrong. */
async function runScenario(cluster: ProcessCluster, s: Scenario, stats: { frames: number; answers: number; disconnects: number; codes: Record<string, number>; sessions: Set<string> }): Promise<void> {
  const leader = await cluster.waitForLeader();
  const followers = cluster.nodes.filter((n) => n.id !== leader);
  const target = s.node <= 2 ? cluster.node(leader) : followers[s.node - 3]!;
  const { socket, exchange } = await openRaw(target.client);
  try {
    const expected = new Set<number>();
    const parts: Buffer[] = [];
    let id = 1;
    if (s.hello) {
      parts.push(encodeEnvelope({ t: 1, id: id, op: 'hello', a: { protocol: 1 } }));
      expected.add(id++);
    }
    let readable = true; // until a frame the node cannot frame or decode: after it, the node may close
    for (const item of s.items) {
      const { bytes, answerable } = encodeItem(item, id);
      parts.push(bytes);
      if (answerable && readable) expected.add(id);
      if (!answerable) readable = false;
      id++;
    }
    stats.frames += parts.length;
    const stream = Buffer.concat(parts);
    for (let at = 0, i = 0; at < stream.length; i++) {
      const size = s.chunks[i % s.chunks.length]!;
      socket.write(stream.subarray(at, at + size));
      at += size;
    }
    const deadline = Date.now() + ANSWER_WAIT_MS;
    const answered = (): Set<number> => new Set(exchange.received.flatMap((e) => ('id' in e ? [e.id] : [])));
    while (!exchange.closed && [...expected].some((x) => !answered().has(x))) {
      if (Date.now() > deadline) throw new Error(`no answer to requests ${[...expected].filter((x) => !answered().has(x)).join(', ')} and no disconnect within ${ANSWER_WAIT_MS} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    if (exchange.garbage !== null) throw new Error(`the node sent an undecodable frame: ${exchange.garbage}`);
    for (const e of exchange.received) {
      if (e.t === 1) throw new Error('the node sent a request envelope');
      if (e.t === 3) {
        if (!isErrorCode(e.e.code)) throw new Error(`unknown error code ${e.e.code}`);
        if (e.e.code === 'INTERNAL') throw new Error(`INTERNAL error from the node: ${JSON.stringify(e.e)}`);
        stats.codes[e.e.code] = (stats.codes[e.e.code] ?? 0) + 1;
      } else if (e.t === 2) {
        stats.codes.ok = (stats.codes.ok ?? 0) + 1;
        const r = e.r as { sessionId?: unknown } | null;
        if (r !== null && typeof r === 'object' && typeof r.sessionId === 'string' && r.sessionId !== '') stats.sessions.add(r.sessionId);
      }
    }
    stats.answers += exchange.received.length;
    if (exchange.closed) {
      stats.disconnects++;
      // A node closes a connection after saying why, in an error about the connection itself (id 0).
      const last = exchange.received[exchange.received.length - 1];
      if (last === undefined || last.t !== 3 || last.id !== 0) throw new Error(`the node closed the connection without a connection-level error (last: ${JSON.stringify(last)})`);
    }
  } finally {
    socket.destroy();
  }
}

// ---------------------------------------------------------------- the whole run

export async function fuzzCluster(options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? (() => {});
  const baseDir = mkdtempSync(join(tmpdir(), 'hk-fuzz-'));
  const cluster = await ProcessCluster.create({ size: 3, baseDir, clusterId: `fuzz-${process.pid}`, serverScript: options.serverScript, extraArgs: ['--snapshot-every', '500'] });
  const stats = { frames: 0, answers: 0, disconnects: 0, codes: {} as Record<string, number>, sessions: new Set<string>() };
  try {
    cluster.startAll();
    await cluster.waitForLeader(30_000);
    await cluster.waitForApplied(1, 30_000); // every node up (its client port listens before its admin port)
    await fc.assert(
      fc.asyncProperty(scenarios(options.framesMax ?? 12), async (s) => {
        await runScenario(cluster, s, stats);
        for (const n of cluster.nodes) if (!cluster.isRunning(n.id)) throw new Error(`node ${n.id} died:\n${cluster.tail(n.id)}`);
      }),
      { seed: options.seed, numRuns: options.runs, endOnFailure: true },
    );
    log(`${options.runs} connections, ${stats.frames} frames, ${stats.answers} answers, ${stats.disconnects} disconnects`);
    for (const n of cluster.nodes) {
      const bad = n.logs.filter((line) => /"level":(50|60)/.test(line));
      if (bad.length > 0) throw new Error(`node ${n.id} logged errors:\n${bad.slice(0, 5).join('\n')}`);
    }
    await endSessions(cluster, stats.sessions);
    // Still serving: a client writes, and every node reads it back.
    const client = await HikariClient.connect({ endpoints: cluster.endpoints, clusterId: `fuzz-${process.pid}`, session: false });
    await client.create('/fuzz-done', 'yes');
    await client.close();
    for (const n of cluster.nodes) {
      const reader = await HikariClient.connect({ endpoints: [n.client], clusterId: `fuzz-${process.pid}`, session: false });
      await reader.sync();
      if ((await reader.get('/fuzz-done', { stale: true })).data.toString() !== 'yes') throw new Error(`node ${n.id} does not have the last write`);
      await reader.close();
    }
    const replicaRecords = await compareReplicas(cluster);
    log(`replicas identical: ${replicaRecords} records in the state range of each`);
    return { runs: options.runs, frames: stats.frames, answers: stats.answers, disconnects: stats.disconnects, codes: stats.codes, replicaRecords };
  } finally {
    for (const n of cluster.nodes) await cluster.kill(n.id, 'SIGKILL');
    rmSync(baseDir, { recursive: true, force: true });
  }
}

/** Closes every session the fuzz opened, so that no expiry keeps the log moving while replicas are compared. */
async function endSessions(cluster: ProcessCluster, sessions: ReadonlySet<string>): Promise<void> {
  const leader = cluster.node(await cluster.waitForLeader());
  const { socket, exchange } = await openRaw(leader.client);
  try {
    socket.write(encodeEnvelope({ t: 1, id: 1, op: 'hello', a: { protocol: 1 } }));
    let id = 2;
    for (const sessionId of sessions) socket.write(encodeEnvelope({ t: 1, id: id++, op: 'session.close', a: { sessionId } }));
    const deadline = Date.now() + 20_000;
    while (exchange.received.length < id - 1 && !exchange.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  } finally {
    socket.destroy();
  }
}

/**
 * Waits until every node has applied the same index and stays there, stops them all at once, and
 * compares the state range of their RocksDBs; returns the number of records.
 */
async function compareReplicas(cluster: ProcessCluster): Promise<number> {
  let stableSince = 0;
  let last = -1;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const statuses = await Promise.all(cluster.nodes.map((n) => cluster.status(n.id)));
    const applied = statuses.map((s) => s?.appliedIndex ?? -1);
    const same = applied.every((a) => a === applied[0]) && statuses.every((s) => s !== null && s.commitIndex === applied[0]);
    if (same && applied[0] === last) {
      if (Date.now() - stableSince >= 1_000) break;
    } else {
      stableSince = Date.now();
      last = same ? applied[0]! : -1;
    }
    if (Date.now() > deadline) throw new Error(`replicas did not settle on one applied index: ${JSON.stringify(applied)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(cluster.nodes.map((n) => cluster.kill(n.id, 'SIGKILL')));
  const dumps: string[][] = [];
  for (const n of cluster.nodes) {
    const store = await RocksStore.open(n.dataDir);
    const rows: string[] = [];
    for await (const [k, v] of store.iterate({ gte: STATE_RANGE.gte, lt: STATE_RANGE.lt })) rows.push(`${k.toString('hex')}=${v.toString('hex')}`);
    await store.close();
    dumps.push(rows);
  }
  for (let i = 1; i < dumps.length; i++) {
    if (dumps[i]!.length !== dumps[0]!.length || dumps[i]!.some((row, j) => row !== dumps[0]![j])) {
      const j = dumps[i]!.findIndex((row, k) => row !== dumps[0]![k]);
      throw new Error(`replica ${i + 1} differs from replica 1 at record ${j}: ${dumps[i]![j]} vs ${dumps[0]![j]}`);
    }
  }
  return dumps[0]!.length;
}
