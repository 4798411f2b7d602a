import { ConfState } from '@hikarikeeper/raft';

/** A client command of the simulated replicated register. `client`/`seq` deduplicate retries. */
export type KvCommand =
  | { readonly op: 'write'; readonly key: string; readonly value: string; readonly client: number; readonly seq: number }
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string; readonly client: number; readonly seq: number };

export type KvResult = { readonly ok: boolean };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(decoder.decode(data)) as KvCommand;
}

/**
 * The deterministic state machine replicated by the simulator: string keys to string values, plus a
 * bounded deduplication table (one entry per client: the latest sequence number and its result), so
 * that a write retried after a lost response is applied once. Its state, the applied index and the
 * membership are "durable": they survive a simulated crash, as the server's RocksDB state does.
 */
export class KvStateMachine {
  kv = new Map<string, string>();
  private lastByClient = new Map<number, { seq: number; result: KvResult }>();
  applied = 0;
  confState: ConfState;

  constructor(confState: ConfState) {
    this.confState = confState;
  }

  apply(cmd: KvCommand): KvResult {
    const last = this.lastByClient.get(cmd.client);
    if (last && cmd.seq <= last.seq) {
      // A retry of a command already applied: answer as the first time, change nothing.
      return cmd.seq === last.seq ? last.result : { ok: false };
    }
    let result: KvResult;
    if (cmd.op === 'write') {
      this.kv.set(cmd.key, cmd.value);
      result = { ok: true };
    } else {
      const current = this.kv.get(cmd.key) ?? null;
      result = { ok: current === cmd.expected };
      if (result.ok) this.kv.set(cmd.key, cmd.value);
    }
    this.lastByClient.set(cmd.client, { seq: cmd.seq, result });
    return result;
  }

  serialize(): Uint8Array {
    return encoder.encode(JSON.stringify({
      kv: [...this.kv].sort(),
      last: [...this.lastByClient].sort((a, b) => a[0] - b[0]),
      applied: this.applied,
      conf: this.confState,
    }));
  }

  restore(data: Uint8Array): void {
    const o = JSON.parse(decoder.decode(data)) as {
      kv: [string, string][]; last: [number, { seq: number; result: KvResult }][]; applied: number; conf: ConfState;
    };
    this.kv = new Map(o.kv);
    this.lastByClient = new Map(o.last);
    this.applied = o.applied;
    this.confState = o.conf;
  }

  /** A digest of the replicated state, for comparing replicas. */
  digest(): string {
    return JSON.stringify([[...this.kv].sort(), [...this.lastByClient].sort((a, b) => a[0] - b[0])]);
  }
}
