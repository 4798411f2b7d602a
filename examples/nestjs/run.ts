/**
 * `npm run example`: builds (`tsc -b`, in the npm script) and runs the NestJS example against the
 * `npm start` cluster — two orders instances (ports 3001 and 3002) and the gateway (3000), each a
 * process of its own, as they would be deployed — then drives some traffic and prints what happens:
 * the lock tokens of concurrent payments, the billing job running in the leader only, the gateway
 * picking instances through discovery. Ctrl-C stops everything cleanly: each process deregisters,
 * resigns and closes its session, and the runner says so.
 *
 * It does not start a cluster: if none answers on HIKARI_ENDPOINTS (default 127.0.0.1:7701-7703,
 * where `npm start` listens), it says so and exits with status 1. EXAMPLE_PORT (default 3000) moves
 * the three ports.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { HikariClient } from '@hikarikeeper/client';
import type { Order } from './orders';

const endpoints = (process.env.HIKARI_ENDPOINTS ?? '127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703').split(',');
const basePort = Number(process.env.EXAMPLE_PORT ?? 3000);
/** Longest wait for the cluster to answer, and for a process to start listening. */
const CONNECT_MS = 3_000;
const START_MS = 20_000;
/** Longest wait for the processes to stop after Ctrl-C before they are killed. */
const STOP_MS = 10_000;
/** A round of traffic every ROUND_MS. */
const ROUND_MS = 4_000;
/** Concurrent payments of one order per round, spread over both instances. */
const PAYMENTS = 6;

interface Proc {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly listening: Promise<void>;
  /** How it ended: its exit code, or the signal that ended it. */
  readonly exited: Promise<string>;
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
const say = (line: string): void => console.log(`[example ] ${line}`);

function start(name: string, role: 'orders' | 'gateway', port: number): Proc {
  const child = spawn(process.execPath, [resolve(__dirname, 'main.js'), role], {
    env: { ...process.env, PORT: String(port), INSTANCE_ID: name, HIKARI_ENDPOINTS: endpoints.join(','), EXAMPLE_SUPERVISED: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true, // its own process group: Ctrl-C reaches the runner, which stops each process once
  });
  let markListening!: () => void;
  let failed!: (error: Error) => void;
  const listening = new Promise<void>((done, fail) => ((markListening = done), (failed = fail)));
  listening.catch(() => undefined);
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      console.log(`[${name.padEnd(8)}] ${line}`);
      if (line.includes('listening on')) markListening();
    });
  }
  const exited = new Promise<string>((done) => child.once('exit', (code, signal) => done(code === null ? String(signal) : `code ${code}`)));
  void exited.then((how) => failed(new Error(`${name} exited (${how}) before listening`)));
  return { name, port, child, listening, exited };
}

async function post(url: string, body?: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** One round: an order created on one instance, paid concurrently on both, read through the gateway. */
async function round(n: number, [a, b]: Proc[], gateway: Proc): Promise<void> {
  const id = `${Date.now().toString(36)}-${n}`;
  const created = await post(`http://127.0.0.1:${a!.port}/orders`, { id, amount: 10 * n });
  if (!created.ok) throw new Error(`creating order ${id} answered ${created.status}`);
  const paid = (await Promise.all(
    Array.from({ length: PAYMENTS }, (_, i) => post(`http://127.0.0.1:${(i % 2 === 0 ? a : b)!.port}/orders/${id}/pay`).then((r) => r.json())),
  )) as Order[];
  const charges = new Set(paid.map((order) => order.charges));
  const chargedUnder = new Set(paid.map((order) => order.fence));
  say(
    `order ${id}: ${PAYMENTS} concurrent payments on 2 instances → charged ${[...charges].join('/')}×, by the call holding ` +
      `lock orders:${id} with token ${[...chargedUnder].join('/')}; the others found it paid`,
  );
  const viaGateway = (await (await fetch(`http://127.0.0.1:${gateway.port}/orders/${id}`)).json()) as { servedBy?: string; order?: Order };
  const billing = await Promise.all([a!, b!].map(async (p) => ({ name: p.name, ...((await (await fetch(`http://127.0.0.1:${p.port}/billing`)).json()) as { leader: boolean; runs: number }) })));
  const leader = billing.find((each) => each.leader);
  say(`gateway → served by ${viaGateway.servedBy ?? '?'} (found through discovery); billing leader: ${leader?.name ?? 'none yet'} (runs: ${billing.map((each) => `${each.name} ${each.runs}`).join(', ')})`);
}

async function main(): Promise<void> {
  say(`looking for the cluster at ${endpoints.join(', ')} ...`);
  try {
    const probe = await HikariClient.connect({ endpoints, timeoutMs: CONNECT_MS, session: false });
    say(`cluster ${probe.node?.clusterId ?? ''} answers (connected to ${probe.endpoint}, leader ${probe.node?.leader ?? 'unknown'})`);
    await probe.close();
  } catch (error) {
    console.error(`\nNo HikariKeeper cluster answers at ${endpoints.join(', ')} (${(error as Error).message}).`);
    console.error('Start one in another terminal with `npm start` (or point HIKARI_ENDPOINTS at yours), then run `npm run example` again.');
    process.exit(1);
  }

  const procs = [start('orders-a', 'orders', basePort + 1), start('orders-b', 'orders', basePort + 2), start('gateway', 'gateway', basePort)];
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('stopping: each process deregisters, resigns and closes its session ...');
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGINT');
    const killer = setTimeout(() => procs.forEach((p) => p.child.kill('SIGKILL')), STOP_MS);
    const ends = await Promise.all(procs.map(async (p) => `${p.name} ${await p.exited}`));
    clearTimeout(killer);
    say(`stopped: ${ends.join(', ')}`);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    await Promise.race([Promise.all(procs.map((p) => p.listening)), sleep(START_MS).then(() => Promise.reject(new Error(`not all listening after ${START_MS} ms`)))]);
  } catch (error) {
    console.error(`\nThe example did not start: ${(error as Error).message} (is a port of ${basePort}-${basePort + 2} in use? set EXAMPLE_PORT)`);
    return stop(1);
  }
  say(`running: gateway http://127.0.0.1:${basePort}, orders http://127.0.0.1:${basePort + 1} and :${basePort + 2} (try curl http://127.0.0.1:${basePort + 1}/health). Ctrl-C to stop.`);
  for (let n = 1; !stopping; n++) {
    await round(n, procs.slice(0, 2), procs[2]!).catch((error: unknown) => say(`round ${n} failed: ${(error as Error).message}`));
    await sleep(ROUND_MS);
  }
}

void main();
