/**
 * Locks across real processes: a 3-node cluster of `hikari-server` processes (RocksDB in temporary
 * folders, real TCP), client processes on the BUILT SDK (fixtures/lock-holder.js) killed with
 * SIGKILL or paused with SIGSTOP, and 64 in-process workers contending through a kill -9 of the
 * leader. Build first: `npx tsc -b` (the servers run server/dist, the child processes libs/client/dist).
 *
 * One cluster for the file; every test uses lock names and paths of its own, and leaves all three
 * nodes running. Waits poll with deadlines; the only timing assertion is the product's liveness
 * promise (a dead holder's lock passes on within its session timeout + 1 s), not a performance figure.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { ClusterLockGrant, ErrorCode, HikariClient, HikariClientOptions, HikariError, LockGrant } from '@hikarikeeper/client';
import { startTestCluster, TestCluster } from './harness';

const LOCK_HOLDER = resolve(__dirname, 'fixtures', 'lock-holder.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Line = Record<string, unknown>;

function describeError(e: unknown): string {
  if (!(e instanceof HikariError)) return String(e);
  const cause = e.cause instanceof HikariError ? ` (cause ${e.cause.code}: ${e.cause.message})` : '';
  return `${e.code}: ${e.message}${cause}`;
}

/** Polls `cond` every 20 ms until it holds; throws, naming `what`, after `timeoutMs`. */
async function until(what: string | (() => string | Promise<string>), cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : await what()}`);
    await sleep(20);
  }
}

/** Remembers whether (and when) a promise settled, without letting its rejection go unhandled. */
function track<T>(promise: Promise<T>): { settled: boolean; at: number; error: unknown; promise: Promise<T> } {
  const state = { settled: false, at: 0, error: undefined as unknown, promise };
  promise.then(
    () => Object.assign(state, { settled: true, at: Date.now() }),
    (error: unknown) => Object.assign(state, { settled: true, at: Date.now(), error }),
  );
  return state;
}

/** `promise`, or a rejection with `explain()` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, explain: () => Promise<string> | string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => void Promise.resolve(explain()).then((m) => reject(new Error(`not done within ${ms} ms: ${m}`)), reject), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Releases `grant`, and makes sure it is released.
 *
 * The SDK sends the release write with a seq and resends it on its own across the failover
 * (CONNECTION_LOSS, NOT_LEADER, NO_LEADER: same seq, applied once by the server) until the client's
 * `timeoutMs`; those errors never reach us. Only at that deadline does it throw TIMEOUT, and then
 * the outcome is unknown. Session mechanics would NOT free the lock in that case: the session is
 * alive (this process is), so a release lost that way would hold the lock as long as the client
 * lives, and starve every waiter. Hence a second release: a release names its grant by token, so
 * it is harmless if the first one applied after all — LOCK_NOT_HELD (nobody holds the lock now) or
 * FENCE_MISMATCH (a newer grant holds it) then, never someone else's grant released.
 * On a first attempt, those two errors would be a bug (the grant is ours and our session is alive).
 */
async function releaseSurely(client: HikariClient, grant: LockGrant, notes: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.locks.release(grant);
      return;
    } catch (e) {
      if (HikariError.is(e, ErrorCode.TIMEOUT) && attempt < 5) {
        notes.push(`release of ${grant.name} token ${grant.token}: attempt ${attempt} ${describeError(e)}`);
        continue;
      }
      if (attempt > 1 && (HikariError.is(e, ErrorCode.LOCK_NOT_HELD) || HikariError.is(e, ErrorCode.FENCE_MISMATCH))) return;
      throw e;
    }
  }
}

/** A lock-holding client process (fixtures/lock-holder.js) and what it said. */
class LockHolderProcess {
  readonly lines: Line[] = [];
  private nextId = 1;
  private pending = '';

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.pending += chunk.toString();
      let nl: number;
      while ((nl = this.pending.indexOf('\n')) >= 0) {
        this.lines.push(JSON.parse(this.pending.slice(0, nl)) as Line);
        this.pending = this.pending.slice(nl + 1);
      }
    });
    child.stdin!.on('error', () => undefined); // the process was killed: nobody reads its stdin
  }

  static start(t: TestCluster, lock: string, sessionTimeoutMs: number): LockHolderProcess {
    const args = [LOCK_HOLDER, t.cluster.endpoints.join(','), t.clusterId, lock, String(sessionTimeoutMs)];
    return new LockHolderProcess(spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  async waitFor(what: string, pred: (l: Line) => boolean, timeoutMs: number): Promise<Line> {
    let found: Line | undefined;
    await until(() => `${what}; the holder said ${JSON.stringify(this.lines)}`, () => {
      found = this.lines.find(pred);
      return found !== undefined || this.lines.some((l) => l.event === 'fatal');
    }, timeoutMs);
    if (found === undefined) throw new Error(`the holder failed while waiting for ${what}: ${JSON.stringify(this.lines)}`);
    return found;
  }

  /** Sends a command and waits for its answer. */
  async request(command: Line, timeoutMs = 15_000): Promise<Line> {
    const id = this.nextId++;
    this.child.stdin!.write(JSON.stringify({ id, ...command }) + '\n');
    return this.waitFor(`the answer to ${JSON.stringify(command)}`, (l) => l.id === id && 'ok' in l, timeoutMs);
  }

  /** Kills it for good (it may be stopped). */
  async destroy(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await exited;
  }
}

describe('locks across real client processes and server crashes', () => {
  let t: TestCluster;
  const clients: HikariClient[] = [];
  const holders: LockHolderProcess[] = [];

  async function connect(options: Partial<HikariClientOptions> = {}): Promise<HikariClient> {
    const client = await HikariClient.connect({ endpoints: t.cluster.endpoints, clusterId: t.clusterId, ...options });
    clients.push(client);
    return client;
  }

  function startHolder(lock: string, sessionTimeoutMs: number): LockHolderProcess {
    const holder = LockHolderProcess.start(t, lock, sessionTimeoutMs);
    holders.push(holder);
    return holder;
  }

  /** Every node running again, one leader: each test starts from a whole cluster. */
  async function wholeCluster(): Promise<number> {
    for (const n of t.cluster.nodes) if (!t.cluster.isRunning(n.id)) t.cluster.start(n.id);
    return t.cluster.waitForLeader(20_000);
  }

  beforeAll(async () => {
    t = await startTestCluster(3);
  });
  afterAll(async () => {
    await Promise.allSettled(holders.map((h) => h.destroy()));
    await Promise.allSettled(clients.map((c) => c.close()));
    await t.destroy();
  });

  test('kill -9 of the holder process: the queued waiter gets the lock within the session timeout + 1 s, with a larger token', async () => {
    await wholeCluster();
    const ttl = 2000;
    const holder = startHolder('L', ttl);
    const acquired = await holder.waitFor('the child to acquire L', (l) => l.event === 'acquired', 15_000);
    const client = await connect();
    const waiting = track(client.locks.acquire('L', { waitMs: 30_000 }));
    await until('the test client to be queued on L', async () => {
      const info = await client.lockInfo('L');
      return info.waiters.some((w) => w.session === client.session!.id);
    }, 10_000);

    // The child keeps its session alive (the SDK's keepalives): a whole timeout later it still holds L.
    await sleep(ttl + 300);
    expect(waiting.settled).toBe(false);
    const before = await client.lockInfo('L');
    expect(before.holders.map((h) => [h.session, h.token])).toEqual([[acquired.sessionId, acquired.token]]);
    expect(before.waiters.map((w) => w.session)).toEqual([client.session!.id]);

    holder.child.kill('SIGKILL');
    const killedAt = Date.now();
    const grant = await within(waiting.promise, ttl + 10_000, async () => JSON.stringify(await client.lockInfo('L')));
    const elapsed = waiting.at - killedAt;
    expect(grant.token).toBeGreaterThan(acquired.token as number);
    // The liveness promise: a crashed holder's lock passes on once its session times out (renewed at
    // most ttl/3 before the kill), plus the leader's expiry check and one commit: well within ttl + 1 s.
    expect(elapsed).toBeLessThan(ttl + 1000);
    const after = await client.lockInfo('L');
    expect(after.holders.map((h) => [h.session, h.token])).toEqual([[client.session!.id, grant.token]]);
    expect(after.waiters).toEqual([]);
    await client.locks.release(grant);
    expect((await client.lockInfo('L')).holders).toEqual([]);
  }, 40_000);

  test('a holder paused (SIGSTOP) past its session timeout: the next holder gets a larger token, and the old token is fenced off when it wakes', async () => {
    await wholeCluster();
    const ttl = 1500;
    const client = await connect();
    await client.create('/fenced', 'initial');
    const holder = startHolder('F', ttl);
    const acquired = await holder.waitFor('the child to acquire F', (l) => l.event === 'acquired', 15_000);
    const oldToken = acquired.token as number;
    // While it holds F, its fenced write goes through.
    expect(await holder.request({ cmd: 'set', path: '/fenced', data: `child:${oldToken}` })).toMatchObject({ ok: true });
    expect((await client.get('/fenced')).data.toString()).toBe(`child:${oldToken}`);

    holder.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    // Granted once the stopped child's session expires (it cannot renew it).
    const grant = await client.locks.acquire('F', { waitMs: 30_000 });
    expect(grant.token).toBeGreaterThan(oldToken);
    expect(Date.now() - stoppedAt).toBeLessThan(ttl + 1000);
    const info = await client.lockInfo('F');
    expect(info.holders.map((h) => [h.session, h.token])).toEqual([[client.session!.id, grant.token]]);
    await client.set('/fenced', `test:${grant.token}`, { fence: grant });

    // The child wakes up believing it holds F, and writes with its old token: refused.
    holder.child.kill('SIGCONT');
    const late = await holder.request({ cmd: 'set', path: '/fenced', data: `child-late:${oldToken}` });
    expect(late).toMatchObject({ ok: false, code: ErrorCode.FENCE_MISMATCH });
    expect((await client.get('/fenced')).data.toString()).toBe(`test:${grant.token}`);
    // Its SDK learns that the session is gone ('expired'), and the grant it handed out turns lost.
    await holder.waitFor('the child to report its session expired', (l) => l.event === 'expired' && l.sessionId === acquired.sessionId, 10_000);
    await holder.waitFor('the child to report its grant lost', (l) => l.event === 'lost' && l.code === ErrorCode.LOCK_NOT_HELD, 10_000);
    // Its release of the old grant changes nothing: the lock is the test client's.
    expect(await holder.request({ cmd: 'release' })).toMatchObject({ ok: false, code: ErrorCode.FENCE_MISMATCH });
    expect((await client.lockInfo('F')).holders.map((h) => h.token)).toEqual([grant.token]);

    await client.locks.release(grant);
    await holder.destroy();
  }, 40_000);

  test('kill -9 of the leader under contention: 64 workers on 4 locks, no double grant, increasing tokens, every waiter served', async () => {
    await wholeCluster();
    const NAMES = ['contended-0', 'contended-1', 'contended-2', 'contended-3'];
    const CLIENTS = 8;
    const WORKERS_PER_CLIENT = 8;
    const ROUNDS = 10;
    const WORKERS = CLIENTS * WORKERS_PER_CLIENT;
    const TOTAL = WORKERS * ROUNDS;
    // A wait this long only ends with LOCK_TIMEOUT if a wake-up was lost: 16 workers per lock at a
    // few ms each, plus a failover, take seconds.
    const WAIT_MS = 60_000;

    // Sessions of 8 s: long enough to ride out the failover (an election, a reconnect, a resume: the
    // new leader also gives every session a fresh deadline). An expiry would make a double grant
    // legitimate (the server releases an expired session's grants), so the test requires none.
    // timeoutMs 20 s: the SDK's deadline for one call, retries through the failover included.
    const workerClients = await Promise.all(Array.from({ length: CLIENTS }, () => connect({ timeoutMs: 20_000, session: { timeoutMs: 8_000 } })));
    const expired: string[] = [];
    for (const c of workerClients) c.on('expired', (e) => expired.push(e.sessionId));

    const holding = new Map<string, string>(); // lock name → the worker holding it, in this process's view
    const tokens = new Map<string, number[]>(NAMES.map((n) => [n, []])); // per name, in grant order
    const violations: string[] = [];
    const failures: string[] = [];
    const notes: string[] = [];
    const roundsDone = new Array<number>(WORKERS).fill(0);
    let grants = 0;

    async function worker(client: HikariClient, id: number): Promise<void> {
      for (let round = 0; round < ROUNDS; round++) {
        const name = NAMES[(id + round) % NAMES.length];
        let grant: ClusterLockGrant;
        try {
          grant = await client.locks.acquire(name, { waitMs: WAIT_MS });
        } catch (e) {
          // LOCK_TIMEOUT: a waiter never served (a lost wake-up). SESSION_EXPIRED: the session did
          // not survive the failover. Anything else: an error the SDK should have retried. All fail.
          failures.push(`worker ${id} round ${round}: acquire ${name}: ${describeError(e)}`);
          continue;
        }
        const me = `worker ${id} (token ${grant.token})`;
        const other = holding.get(name);
        if (other !== undefined) violations.push(`${name} granted to ${me} while ${other} holds it`);
        holding.set(name, me);
        const seen = tokens.get(name)!;
        if (seen.length > 0 && grant.token <= seen[seen.length - 1]) violations.push(`${name}: token ${grant.token} granted after ${seen[seen.length - 1]}`);
        seen.push(grant.token);
        grants++;
        await sleep(2 + Math.floor(Math.random() * 4)); // the critical section
        if (holding.get(name) !== me) violations.push(`${name}: ${holding.get(name)} took it while ${me} held it`);
        if (grant.lost) failures.push(`${me}: grant of ${name} lost (its session ended)`);
        // Cleared BEFORE the release is sent: once it is, the next grant may come at any moment.
        holding.delete(name);
        try {
          await releaseSurely(client, grant, notes);
        } catch (e) {
          failures.push(`${me}: release ${name}: ${describeError(e)}`);
        }
        roundsDone[id]++;
      }
    }

    const nodeViews = async (): Promise<string> => {
      const views = await Promise.all(NAMES.map((n) => workerClients[0].lockInfo(n, { stale: true, timeoutMs: 2000 }).then(
        (i) => `${n}: holders ${JSON.stringify(i.holders.map((h) => [h.session.slice(0, 6), h.token]))} waiters ${i.waiters.length}`,
        (e: unknown) => `${n}: ${describeError(e)}`,
      )));
      return `${grants}/${TOTAL} grants; rounds per worker ${roundsDone.join(',')}; ${views.join('; ')}; failures ${JSON.stringify(failures.slice(0, 5))}`;
    };

    try {
      const running = Promise.all(workerClients.flatMap((c, ci) => Array.from({ length: WORKERS_PER_CLIENT }, (_, wi) => worker(c, ci * WORKERS_PER_CLIENT + wi))));

      // Midway, kill -9 the leader.
      await until(() => `half the grants (${grants}/${TOTAL})`, () => grants >= TOTAL / 2, 60_000);
      const oldLeader = await t.cluster.waitForLeader();
      await t.cluster.kill(oldLeader, 'SIGKILL');
      const grantsAtKill = grants;
      const others = t.cluster.nodes.map((n) => n.id).filter((id) => id !== oldLeader);
      expect(await t.cluster.waitForLeader(20_000, others)).not.toBe(oldLeader);
      // Locks keep changing hands on the two survivors; then the old leader comes back and catches up.
      await until(() => `grants after the crash (${grants}, ${grantsAtKill} at the kill)`, () => grants >= Math.min(TOTAL, grantsAtKill + 40), 30_000);
      t.cluster.start(oldLeader);

      await within(running, 60_000, nodeViews);
      expect(violations).toEqual([]);
      expect(failures).toEqual([]);
      expect(expired).toEqual([]);
      expect(roundsDone).toEqual(new Array<number>(WORKERS).fill(ROUNDS));
      expect(grants).toBe(TOTAL);
      const all = NAMES.flatMap((n) => tokens.get(n)!);
      expect(new Set(all).size).toBe(TOTAL); // one counter for every name: no token twice
      // Nothing held, nobody waiting: a linearizable read, after every release was acknowledged.
      for (const name of NAMES) {
        const info = await workerClients[0].lockInfo(name);
        expect({ name, holders: info.holders, waiters: info.waiters }).toEqual({ name, holders: [], waiters: [] });
      }
      if (notes.length > 0) console.log(`releases retried after TIMEOUT:\n${notes.join('\n')}`);

      // The restarted node catches up with the rest.
      const status = await t.cluster.status(await t.cluster.waitForLeader());
      await t.cluster.waitForApplied(status!.commitIndex, 20_000);
    } finally {
      await Promise.allSettled(workerClients.map((c) => c.close()));
    }
  }, 120_000);

  test('a waiter whose node is killed keeps its place in the queue and is served on another node', async () => {
    await wholeCluster();
    const owner = await connect({ timeoutMs: 20_000 });
    const waiter = await connect({ timeoutMs: 20_000 });
    const waiterEvents: string[] = [];
    for (const e of ['suspended', 'reconnected', 'expired'] as const) waiter.on(e, () => waiterEvents.push(e));
    const first = await owner.locks.acquire('W');
    const waiting = track(waiter.locks.acquire('W', { waitMs: 60_000 }));
    let ticket = 0;
    await until('the waiter to be queued on W', async () => {
      const info = await owner.lockInfo('W');
      ticket = info.waiters.find((w) => w.session === waiter.session!.id)?.ticket ?? 0;
      return ticket > 0;
    }, 10_000);

    // The node its lock.wait is on. (With a session, the SDK's keepalives keep a client on the leader,
    // so this is the leader: the waiter cannot be parked on a follower through the public API.)
    await until('the waiter to be connected', () => waiter.endpoint !== null, 10_000);
    const endpoint = waiter.endpoint;
    const victim = t.cluster.nodes.find((n) => n.client === endpoint)!;
    expect(victim).toBeDefined();
    await t.cluster.kill(victim.id, 'SIGKILL');
    await t.cluster.waitForLeader(20_000, t.cluster.nodes.map((n) => n.id).filter((id) => id !== victim.id));
    // Released as soon as a leader is back: the grant may be applied before the waiter has
    // reconnected (its new node then answers lock.wait from its state) or after (the wait hears it).
    await releaseSurely(owner, first, []);
    const grant = await within(waiting.promise, 30_000, async () => `waiter events ${waiterEvents}; ${JSON.stringify(await owner.lockInfo('W'))}`);
    expect(grant.ticket).toBe(ticket); // the same ticket: the SDK waited again elsewhere, it did not queue anew
    expect(grant.token).toBeGreaterThan(first.token);
    expect(waiter.endpoint).not.toBe(endpoint);
    // Its session survived: resumed on another node, confirmed by the leader ('reconnected').
    await until(() => `the waiter's reconnected event (events: ${waiterEvents})`, () => waiterEvents.includes('reconnected'), 15_000);
    expect(waiterEvents).toContain('suspended');
    expect(waiterEvents).not.toContain('expired');
    expect((await owner.lockInfo('W')).holders.map((h) => [h.session, h.token])).toEqual([[waiter.session!.id, grant.token]]);
    await waiter.locks.release(grant);
    t.cluster.start(victim.id);
    await t.cluster.waitForLeader(20_000);
  }, 60_000);

  test('giving up (waitMs) during a failover leaves no ticket and no grant behind: the next waiter is served', async () => {
    await wholeCluster();
    const owner = await connect({ timeoutMs: 20_000 });
    const queued = await connect({ timeoutMs: 20_000 });
    const late = await connect({ timeoutMs: 20_000 });
    const patient = await connect({ timeoutMs: 20_000 });
    const quitters = [queued.session!.id, late.session!.id];
    const held = await owner.locks.acquire('G');
    // A waiter already queued, whose waitMs passes while there is no leader: its lock.cancel has to
    // wait for the next leader (the SDK keeps sending it).
    const gaveUpQueued = track(queued.locks.acquire('G', { waitMs: 1500 }));
    await until('the first waiter to be queued on G', async () => (await owner.lockInfo('G')).waiters.length === 1, 10_000);
    const leader = await t.cluster.waitForLeader();
    await t.cluster.kill(leader, 'SIGKILL');
    // An acquire sent while there is no leader, given up before it is even answered: the SDK keeps
    // sending the write and undoes its outcome (cancel the ticket, or release a grant) once known.
    const gaveUpLate = track(late.locks.acquire('G', { waitMs: 300 }));
    const served = track(patient.locks.acquire('G', { waitMs: 60_000 }));
    await until('both give-ups to settle', () => gaveUpQueued.settled && gaveUpLate.settled, 30_000);
    expect(HikariError.is(gaveUpQueued.error, ErrorCode.LOCK_TIMEOUT)).toBe(true);
    expect(HikariError.is(gaveUpLate.error, ErrorCode.LOCK_TIMEOUT)).toBe(true);
    await t.cluster.waitForLeader(20_000, t.cluster.nodes.map((n) => n.id).filter((id) => id !== leader));
    t.cluster.start(leader);

    await until(async () => `no ticket of the quitters left: ${JSON.stringify(await owner.lockInfo('G'))}`, async () => {
      const info = await owner.lockInfo('G');
      return !info.waiters.some((w) => quitters.includes(w.session)) && !info.holders.some((h) => quitters.includes(h.session));
    }, 30_000);
    await releaseSurely(owner, held, []);
    const grant = await within(served.promise, 20_000, async () => JSON.stringify(await owner.lockInfo('G')));
    expect(grant.token).toBeGreaterThan(held.token);
    await patient.locks.release(grant);
    // Idle at last: had the late acquire applied after all (queued, or granted), its undo has removed it.
    await until(async () => `G to be idle: ${JSON.stringify(await owner.lockInfo('G'))}`, async () => {
      const info = await owner.lockInfo('G');
      return info.holders.length === 0 && info.waiters.length === 0;
    }, 20_000);
    await t.cluster.waitForLeader(20_000);
  }, 60_000);
});
