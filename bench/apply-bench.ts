/**
 * `npm run bench:apply`: what the coordination state machine costs per command, alone — the part of
 * every write that all replicas pay. One process, real RocksDB in a temporary folder, the server's
 * own CoordinationStateMachine (and its state cache), commands applied in batches as a Ready brings
 * them, each batch written to RocksDB (without fsync: the log's fsync is not measured here) before
 * the next.
 *
 * Workloads:
 *   locks  W clients, each with a session, acquire and release locks on K names (one command each)
 *   set    W clients set 100-byte data on random nodes of 1,000
 *
 * Reports CPU microseconds per command — every thread of the process: JavaScript, RocksDB's writes in
 * libuv's pool, its flushes and compactions, the garbage collector — as the median of several rounds
 * after a warm-up. CPU time, not throughput: it varies little with what else the machine runs, so it
 * is the figure to compare before and after a change to the apply path.
 *
 * Options: --commands N per round (default 100,000), --rounds R (5), --batch B commands per batch (12),
 * --clients W (64), --keys K (10,000), --out FILE (JSON lines, default bench/results/apply.jsonl).
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Entry, EntryType, SeededRandom } from '@hikarikeeper/raft';
import { CoordinationStateMachine } from '@hikarikeeper/server/dist/coordination/state-machine';
import { Command, encodeCommand, Outcome } from '@hikarikeeper/server/dist/coordination/commands';
import { RocksStore, WriteBatch } from '@hikarikeeper/server/dist/storage/rocks';
import { integer } from './lib/options';
import { formatCount, makeTable, renderTable } from './lib/report';

interface Options {
  commands: number;
  rounds: number;
  batch: number;
  clients: number;
  keys: number;
  out: string;
}

interface Row {
  workload: string;
  cpuUsPerCommand: number;
  cpuUsMin: number;
  cpuUsMax: number;
  writesPerCommand: number;
  commandsPerSecond: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      commands: { type: 'string' }, rounds: { type: 'string' }, batch: { type: 'string' },
      clients: { type: 'string' }, keys: { type: 'string' }, out: { type: 'string' },
    },
  });
  const int = (name: string, v: string | undefined, fallback: number, max: number): number => integer(name, v, fallback, 1, max);
  return {
    commands: int('commands', values.commands, 100_000, 10_000_000),
    rounds: int('rounds', values.rounds, 5, 100),
    batch: int('batch', values.batch, 12, 10_000),
    clients: int('clients', values.clients, 64, 10_000),
    keys: int('keys', values.keys, 10_000, 10_000_000),
    out: values.out ?? 'bench/results/apply.jsonl',
  };
}

/** A state machine on a fresh RocksDB, applying batches as the runtime does (apply, write, tell the cache). */
class Harness {
  private index = 0;
  writes = 0;
  commands = 0;

  private constructor(readonly dir: string, private readonly store: RocksStore, private readonly sm: CoordinationStateMachine) {}

  static async open(): Promise<Harness> {
    const dir = mkdtempSync(join(tmpdir(), 'hk-apply-bench-'));
    const store = await RocksStore.open(dir);
    return new Harness(dir, store, new CoordinationStateMachine(store));
  }

  async apply(cmds: readonly Command[]): Promise<Outcome[]> {
    const entries: Entry[] = cmds.map((c) => ({ term: 1, index: ++this.index, type: EntryType.Normal, data: encodeCommand(c) }));
    const batch = new WriteBatch();
    const result = await this.sm.applyBatch(entries, batch);
    await this.store.write(batch, { sync: false });
    this.sm.batchWritten(result);
    this.writes += result.writes;
    this.commands += entries.length;
    return entries.map((e) => result.outcomes.get(e.index)!);
  }

  async close(): Promise<void> {
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A source of the next batch of commands (one per distinct client at most) and what to learn from their outcomes. */
interface Workload {
  readonly name: string;
  setUp(h: Harness): Promise<void>;
  next(): Command[];
  learn(cmds: readonly Command[], outcomes: readonly Outcome[]): void;
}

const T = 1_000; // the leader's clock in every command: a constant is as good as any here

function clientIds(n: number): string[] {
  return Array.from({ length: n }, () => randomBytes(16).toString('hex'));
}

/** Deterministic choices: the same commands on every run. */
function choices(seed: number): (bound: number) => number {
  const random = new SeededRandom(seed);
  return (bound) => random.nextInt(bound);
}

function lockWorkload(o: Options): Workload {
  const sessions = clientIds(o.clients);
  const clients = clientIds(o.clients);
  const seq = new Array<number>(o.clients).fill(0);
  const held: Array<{ name: string; token: number } | null> = new Array(o.clients).fill(null);
  const pick = choices(12345);
  let who: number[] = [];
  return {
    name: 'locks',
    async setUp(h) {
      for (const id of sessions) await h.apply([{ k: 'session', op: 'open', id, ttl: 10_000, t: T }]);
    },
    next() {
      who = [];
      const cmds: Command[] = [];
      while (cmds.length < Math.min(o.batch, o.clients)) {
        const w = pick(o.clients);
        if (who.includes(w)) continue;
        who.push(w);
        const h = held[w];
        cmds.push(h
          ? { k: 'lock', op: 'release', name: h.name, token: h.token, c: clients[w], s: ++seq[w], t: T, sid: sessions[w] }
          : { k: 'lock', op: 'acquire', name: `bench:${pick(o.keys)}`, mode: 'exclusive', c: clients[w], s: ++seq[w], t: T, sid: sessions[w] });
      }
      return cmds;
    },
    learn(cmds, outcomes) {
      cmds.forEach((c, i) => {
        const w = who[i];
        const out = outcomes[i];
        if (c.k !== 'lock') return;
        if (c.op === 'release') held[w] = null;
        else if (out.ok && (out.value as { granted: boolean }).granted) held[w] = { name: c.name, token: (out.value as { token: number }).token };
        // a queued acquire (the name was taken) leaves the client waiting; it tries a release next time only if granted
      });
    },
  };
}

function setWorkload(o: Options): Workload {
  const clients = clientIds(o.clients);
  const seq = new Array<number>(o.clients).fill(0);
  const pick = choices(54321);
  const data = Buffer.alloc(100, 7);
  const NODES = 1_000;
  return {
    name: 'set',
    async setUp(h) {
      await h.apply([{ k: 'ns', op: { op: 'create', path: '/b', data: Buffer.alloc(0), mode: 'persistent' }, t: T }]);
      for (let i = 0; i < NODES; i += 100) {
        await h.apply(Array.from({ length: 100 }, (_, j): Command => ({ k: 'ns', op: { op: 'create', path: `/b/n${i + j}`, data, mode: 'persistent' }, t: T })));
      }
    },
    next() {
      const cmds: Command[] = [];
      for (let w = pick(o.clients), n = 0; n < o.batch; n++, w = (w + 1) % o.clients) {
        cmds.push({ k: 'ns', op: { op: 'set', path: `/b/n${pick(NODES)}`, data }, c: clients[w], s: ++seq[w], t: T });
      }
      return cmds;
    },
    learn() {},
  };
}

async function measure(o: Options, make: (o: Options) => Workload): Promise<Row> {
  const h = await Harness.open();
  try {
    const wl = make(o);
    await wl.setUp(h);
    const run = async (n: number): Promise<{ us: number; perSecond: number }> => {
      const commandsBefore = h.commands;
      const cpu = process.cpuUsage();
      const started = process.hrtime.bigint();
      while (h.commands - commandsBefore < n) {
        const cmds = wl.next();
        wl.learn(cmds, await h.apply(cmds));
      }
      const used = process.cpuUsage(cpu);
      const done = h.commands - commandsBefore;
      return { us: (used.user + used.system) / done, perSecond: done / (Number(process.hrtime.bigint() - started) / 1e9) };
    };
    await run(o.commands); // warm-up: JIT, caches, the first touch of every key
    const writesBefore = h.writes;
    const commandsBefore = h.commands;
    const rounds: Array<{ us: number; perSecond: number }> = [];
    for (let r = 0; r < o.rounds; r++) rounds.push(await run(o.commands));
    const us = rounds.map((r) => r.us).sort((a, b) => a - b);
    const median = us[Math.floor(us.length / 2)];
    return {
      workload: wl.name,
      cpuUsPerCommand: Math.round(median * 10) / 10,
      cpuUsMin: Math.round(us[0] * 10) / 10,
      cpuUsMax: Math.round(us[us.length - 1] * 10) / 10,
      writesPerCommand: Math.round(((h.writes - writesBefore) / (h.commands - commandsBefore)) * 100) / 100,
      commandsPerSecond: Math.round(rounds.map((r) => r.perSecond).sort((a, b) => a - b)[Math.floor(rounds.length / 2)]),
    };
  } finally {
    await h.close();
  }
}

async function main(): Promise<void> {
  const o = options();
  console.log(`apply: the coordination state machine on RocksDB, one process; ${o.clients} clients, batches of ${o.batch}, ${formatCount(o.commands)} commands per round, median of ${o.rounds} rounds after a warm-up round`);
  const rows: Row[] = [];
  for (const make of [lockWorkload, setWorkload]) rows.push(await measure(o, make));
  console.log(renderTable(makeTable<Row>([
    { header: 'workload', align: 'left', value: (r) => r.workload },
    { header: 'CPU µs / command (median)', value: (r) => r.cpuUsPerCommand.toFixed(1) },
    { header: 'min … max', value: (r) => `${r.cpuUsMin.toFixed(1)} … ${r.cpuUsMax.toFixed(1)}` },
    { header: 'state writes / command', value: (r) => r.writesPerCommand.toFixed(2) },
    { header: 'commands/s', value: (r) => formatCount(r.commandsPerSecond) },
  ], rows)).join('\n'));
  mkdirSync(dirname(o.out), { recursive: true });
  const at = new Date().toISOString();
  for (const r of rows) appendFileSync(o.out, JSON.stringify({ bench: 'apply', at, node: process.version, clients: o.clients, batch: o.batch, keys: o.keys, ...r }) + '\n');
  console.log(`results appended to ${o.out}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
