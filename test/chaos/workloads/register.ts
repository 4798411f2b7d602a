/**
 * Register workload: clients read, write and compare-and-set (by version) a few keys at a time
 * (some only read, each through one node of its own);
 * the history is checked for linearizability, per key, with the project's checker and its
 * versioned-register model (versions as well as values). Each key serves a bounded number of
 * operations and is then retired for a fresh one, which keeps every key's search small.
 *
 * A key is created (data '', version 0) before any operation on it is recorded, which is the
 * model's initial state. Written values are unique (`<client>-<n>`).
 */
import { ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';
import { checkOperations, Operation, VersionedInput, VersionedOutput, versionedRegisterModel } from '../../checker';
import type { OpRecord } from '../journal';
import { now, sleep, sleepUnless } from '../time';
import { CheckReport, connectClient, ensureNode, errorText, failureOutcome, Workload, WorkloadContext } from './workload';

const ROOT = '/chaos-register';
/** Keys in use at once: few, so that clients contend. */
const ACTIVE_KEYS = 3;
/** Operations invoked on a key before it is retired. */
const OPS_PER_KEY = 150;

interface RegisterOp {
  readonly record: OpRecord;
  readonly input: VersionedInput;
}

export class RegisterWorkload implements Workload {
  readonly name = 'register';
  private readonly clients: HikariClient[] = [];
  private readonly ops: RegisterOp[] = [];
  private readonly active: { key: string; invoked: number }[] = [];
  private readonly used = new Set<string>();
  private nextKey = 0;
  private keyMaking: Promise<void> | null = null;
  private readonly stopping = new AbortController();
  private loops: Promise<void>[] = [];
  private liveness: string[] = [];

  /**
   * `writers` clients read, write and cas through any node (a write takes them to the leader);
   * `readers` clients only read, each through one node of its own (slots 0, 1, ...), so that some
   * reads are served by followers, minorities and deposed leaders — where a stale read would show.
   */
  constructor(private readonly ctx: WorkloadContext, private readonly writers: number, private readonly readers: number) {}

  async start(): Promise<void> {
    for (let i = 0; i < this.writers + this.readers; i++) {
      const endpoints = i < this.writers ? this.ctx.endpoints : [this.ctx.endpoints[(i - this.writers) % this.ctx.endpoints.length]!];
      this.clients.push(await connectClient(this.ctx, `register-${i}`, { session: false, endpoints }));
    }
    await ensureNode(this.clients[0]!, ROOT);
    while (this.active.length < ACTIVE_KEYS) this.active.push({ key: await this.makeKey(), invoked: 0 });
    this.loops = this.clients.map((c, i) => this.loop(c, `register-${i}`, i));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.loops);
  }

  /** Every key used, read once by each client (linearizable reads, in the history). */
  async final(): Promise<void> {
    const deadline = now() + this.ctx.recoveryMs;
    await Promise.all(this.clients.map(async (client, i) => {
      for (const key of this.used) {
        for (;;) {
          const ok = await this.invoke(client, `register-${i}`, { op: 'read', key });
          if (ok) break;
          if (now() > deadline) {
            this.liveness.push(`register-${i} could not read ${key} within ${this.ctx.recoveryMs} ms of the heal`);
            return;
          }
          await sleep(200);
        }
      }
    }));
  }

  check(): CheckReport {
    const history: Operation<VersionedInput, VersionedOutput>[] = [];
    const counts = { ok: 0, fail: 0, info: 0 };
    for (const { record, input } of this.ops) {
      const outcome = record.outcome ?? 'info';
      counts[outcome]++;
      if (outcome === 'fail') continue; // it did not take effect
      history.push({
        clientId: 0, input, call: record.call,
        output: outcome === 'ok' ? (record.output as VersionedOutput) : undefined,
        return: outcome === 'ok' ? record.return! : Infinity,
      });
    }
    const model = versionedRegisterModel('');
    const result = checkOperations(model, history, { timeoutMs: 120_000 });
    const violations = [...this.liveness];
    if (result.result !== 'ok') {
      const parts = model.partition!(history);
      const part = parts[result.failingPartition ?? 0] ?? [];
      const key = part[0]?.input.key ?? '?';
      const placed = new Set(result.longestPrefix ?? []);
      const prefix = (result.longestPrefix ?? []).map((op) => model.describeOperation!(op.input, op.output));
      // The operation that could not come next: the earliest-returning one left out of the prefix.
      const stuck = part.filter((op) => !placed.has(op) && op.return !== Infinity).sort((a, b) => a.return - b.return)[0];
      const at = (t: number) => `${(t / 1000).toFixed(3)} s`;
      violations.push(
        result.result === 'illegal'
          ? `key ${key} is not linearizable (${part.length} operations): no order explains ${stuck === undefined ? '?' : `${model.describeOperation!(stuck.input, stuck.output)} [${at(stuck.call)}–${at(stuck.return)}]`}` +
            ` after ${prefix.slice(-4).join('; ')}`
          : `the checker could not decide key ${key} (${part.length} operations) within its budget`,
      );
    }
    return {
      workload: this.name, checked: history.length, unit: 'operations', violations,
      notes: [`${counts.ok} ok, ${counts.fail} failed, ${counts.info} unknown; ${this.used.size} keys; ${result.steps} search steps`],
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.close()));
  }

  private async loop(client: HikariClient, process: string, index: number): Promise<void> {
    const random = this.ctx.random;
    const versions = new Map<string, number>();
    let n = 0;
    while (!this.stopping.signal.aborted) {
      const slot = this.active[random.nextInt(this.active.length)]!;
      const key = slot.key;
      if (++slot.invoked >= OPS_PER_KEY) await this.retire(slot);
      const draw = index < this.writers ? random.next() : 0;
      const input: VersionedInput =
        draw < 0.5 ? { op: 'read', key }
          : draw < 0.75 ? { op: 'write', key, value: `${index}-${n++}` }
            : { op: 'cas', key, version: versions.get(key) ?? 0, value: `${index}-${n++}` };
      await this.invoke(client, process, input, versions);
      await sleepUnless(random.nextInt(30), this.stopping.signal);
    }
  }

  /** One operation, recorded; true when it completed. */
  private async invoke(client: HikariClient, process: string, input: VersionedInput, versions?: Map<string, number>): Promise<boolean> {
    const record = this.ctx.journal.invoke(process, input.op, input);
    this.ops.push({ record, input });
    const path = `${ROOT}/${input.key}`;
    try {
      let output: VersionedOutput;
      if (input.op === 'read') {
        const { data, stat } = await client.get(path);
        output = { value: data.toString('utf8'), version: stat.version };
      } else {
        const { stat } = await client.set(path, input.value, input.op === 'cas' ? { version: input.version } : {});
        output = input.op === 'cas' ? { ok: true, version: stat.version } : { version: stat.version };
      }
      if (output !== undefined && 'version' in output) versions?.set(input.key, output.version);
      this.ctx.journal.complete(record, 'ok', output);
      return true;
    } catch (e) {
      if (input.op === 'cas' && HikariError.is(e, ErrorCode.BAD_VERSION)) {
        versions?.delete(input.key);
        this.ctx.journal.complete(record, 'ok', { ok: false });
        return true;
      }
      if (input.op === 'read' && HikariError.is(e, ErrorCode.NO_NODE)) {
        // A key that was created and is never deleted cannot be missing: let the checker say so.
        this.ctx.journal.complete(record, 'ok', { value: '<missing>', version: -1 });
        return true;
      }
      // A read that failed took no effect, whatever the error; a write's error may leave it unknown.
      this.ctx.journal.complete(record, input.op === 'read' ? 'fail' : failureOutcome(e), errorText(e));
      return false;
    }
  }

  /** Replaces a key that has served its share with a fresh one (one replacement at a time). */
  private async retire(slot: { key: string; invoked: number }): Promise<void> {
    if (this.keyMaking !== null) return;
    this.keyMaking = (async () => {
      try {
        slot.key = await this.makeKey();
        slot.invoked = 0;
      } catch {
        // The cluster is unavailable: the old key serves on; the next op retries.
      } finally {
        this.keyMaking = null;
      }
    })();
    await this.keyMaking;
  }

  /** Creates a fresh key (data '', version 0), retrying until the cluster confirms it exists. */
  private async makeKey(): Promise<string> {
    const key = `k${this.nextKey++}`;
    const client = this.clients[0]!;
    for (let attempt = 0; ; attempt++) {
      try {
        await client.create(`${ROOT}/${key}`, '');
        break;
      } catch (e) {
        if (HikariError.is(e, ErrorCode.NODE_EXISTS)) break; // an earlier attempt applied
        if (this.stopping.signal.aborted && attempt > 0) throw e;
        await sleep(200);
      }
    }
    this.used.add(key);
    return key;
  }
}
