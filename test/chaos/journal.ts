/**
 * The run's journal: every client operation (invoke, then ok / fail / info — Jepsen's words: info
 * is an operation whose outcome is unknown) and every fault, with times from the harness's
 * monotonic clock. Workloads keep their own typed records for their checks; the journal is what a
 * failing run writes out (history.jsonl) and draws (timeline.html).
 */
import { now } from './time';

export type Outcome = 'ok' | 'fail' | 'info';

export interface OpRecord {
  readonly id: number;
  /** Which client: `register-2`, `lock-0`, ... */
  readonly process: string;
  /** The workload's name for the operation: read, write, cas, acquire, ... */
  readonly f: string;
  readonly input: unknown;
  readonly call: number;
  /** Undefined while pending; a pending operation at the end of a run is reported as info. */
  outcome?: Outcome;
  output?: unknown;
  return?: number;
}

export interface FaultRecord {
  readonly name: string;
  readonly detail: string;
  readonly start: number;
  end?: number;
  /** A fault of the cluster or its network (false: of one client, which does not slow the cluster). */
  readonly cluster: boolean;
}

/** Operations kept for the report; past it the oldest are counted, not kept. */
const OPS_KEPT_MAX = 2_000_000;

export class Journal {
  readonly ops: OpRecord[] = [];
  readonly faults: FaultRecord[] = [];
  readonly marks: { name: string; time: number }[] = [];
  private nextId = 0;
  dropped = 0;

  invoke(process: string, f: string, input: unknown): OpRecord {
    const op: OpRecord = { id: this.nextId++, process, f, input, call: now() };
    if (this.ops.length >= OPS_KEPT_MAX) {
      this.ops.shift();
      this.dropped++;
    }
    this.ops.push(op);
    return op;
  }

  complete(op: OpRecord, outcome: Outcome, output?: unknown): void {
    if (op.outcome !== undefined) throw new Error(`operation ${op.id} (${op.process} ${op.f}) completed twice`);
    op.outcome = outcome;
    op.output = output;
    op.return = now();
  }

  fault(name: string, detail: string, cluster = true): FaultRecord {
    const f: FaultRecord = { name, detail, start: now(), cluster };
    this.faults.push(f);
    return f;
  }

  /** A phase boundary (faults, heal, final). */
  mark(name: string): void {
    this.marks.push({ name, time: now() });
  }
}
