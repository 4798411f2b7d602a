import { Message, MessageType } from '@hikarikeeper/raft';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The runtime's instruments; `noMetrics` when nothing is collected (tests). */
export interface RuntimeMetrics {
  term: { set(v: number): void };
  commitIndex: { set(v: number): void };
  appliedIndex: { set(v: number): void };
  elections: { inc(n?: number): void };
  proposals: { inc(n?: number): void };
  droppedMessages: { inc(n?: number): void };
  readyEntries: { observe(v: number): void };
  readySeconds: { observe(v: number): void };
  fsyncSeconds: { observe(v: number): void };
  applySeconds: { observe(v: number): void };
  /** Raft messages sent to peers, by kind (`app` for an append with entries, `app_empty` without). */
  messagesSent: { inc(labels: { kind: string }, n?: number): void };
}

const none = { set() {}, inc() {}, observe() {} };
export const noMetrics: RuntimeMetrics = {
  term: none, commitIndex: none, appliedIndex: none, elections: none, proposals: none, droppedMessages: none,
  readyEntries: none, readySeconds: none, fsyncSeconds: none, applySeconds: none, messagesSent: none,
};

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Prometheus instruments (prom-client), registered in `registry` (served at GET /metrics). */
export function prometheusRuntimeMetrics(registry: Registry): RuntimeMetrics {
  const r = [registry];
  const sent = new Counter({ name: 'hikari_raft_messages_sent_total', help: 'Raft messages sent to peers, by kind (app: an append with entries; app_empty: one without, e.g. a commit index update)', labelNames: ['kind'], registers: r });
  // Counted for every message sent: each kind's child is looked up once, not by its labels each time.
  const sentByKind = new Map<string, { inc(n?: number): void }>();
  return {
    term: new Gauge({ name: 'hikari_raft_term', help: 'Current Raft term', registers: r }),
    commitIndex: new Gauge({ name: 'hikari_raft_commit_index', help: 'Raft commit index', registers: r }),
    appliedIndex: new Gauge({ name: 'hikari_raft_applied_index', help: 'Last index applied to the state machine', registers: r }),
    elections: new Counter({ name: 'hikari_raft_leader_elections_total', help: 'Times this node became leader', registers: r }),
    proposals: new Counter({ name: 'hikari_raft_proposals_total', help: 'Entries proposed by this node', registers: r }),
    droppedMessages: new Counter({ name: 'hikari_raft_dropped_messages_total', help: 'Invalid peer messages dropped', registers: r }),
    readyEntries: new Histogram({ name: 'hikari_raft_ready_entries', help: 'Log entries persisted per Ready (group commit size)', buckets: [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000], registers: r }),
    readySeconds: new Histogram({ name: 'hikari_raft_ready_seconds', help: 'Time to handle one Ready', buckets: LATENCY_BUCKETS, registers: r }),
    fsyncSeconds: new Histogram({ name: 'hikari_storage_write_seconds', help: 'RocksDB batch write time (synced when Raft requires)', buckets: LATENCY_BUCKETS, registers: r }),
    applySeconds: new Histogram({ name: 'hikari_apply_seconds', help: 'State machine apply time per Ready', buckets: LATENCY_BUCKETS, registers: r }),
    messagesSent: {
      inc({ kind }, n = 1) {
        let child = sentByKind.get(kind);
        if (child === undefined) sentByKind.set(kind, (child = sent.labels(kind)));
        child.inc(n);
      },
    },
  };
}

/** A message's label in hikari_raft_messages_sent_total: its type in snake case (`app_resp`, `heartbeat`…); an append without entries is `app_empty`. */
export function raftMessageKind(m: Message): string {
  if (m.type === MessageType.App && m.entries.length === 0) return 'app_empty';
  return MESSAGE_KINDS[m.type] ?? 'other';
}

const MESSAGE_KINDS: Record<number, string> = Object.fromEntries(
  Object.entries(MessageType)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, value]) => [value, name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()]),
);
