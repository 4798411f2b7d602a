/** What every workload has: its clients, its loop, its final reads and its check. */
import { randomUUID } from 'node:crypto';
import { ErrorCode, HikariClient, HikariClientOptions, HikariError } from '@hikarikeeper/client';
import { SeededRandom } from '@hikarikeeper/raft';
import type { FaultNet } from '../net/fault-net';
import type { Journal, Outcome } from '../journal';

export interface WorkloadContext {
  readonly endpoints: readonly string[];
  readonly clusterId: string;
  readonly journal: Journal;
  readonly net: FaultNet;
  /** FaultNet names of the cluster's nodes now. */
  memberNames(): string[];
  /** FaultNet names of clients that died for good: their links stay cut through the heal. */
  readonly deadClients: Set<string>;
  /** Session timeout of the clients that have sessions (ms). */
  readonly sessionTtlMs: number;
  /** Deadline of one client call (ms); past it a write's outcome is unknown. */
  readonly callTimeoutMs: number;
  /** How long the cluster is given to serve again after the faults end (ms). */
  readonly recoveryMs: number;
  /** This workload's own seeded draws. */
  readonly random: SeededRandom;
  /** Unsafe variants, for proving the checks catch what they should. */
  readonly unsafe: ReadonlySet<string>;
}

export interface CheckReport {
  readonly workload: string;
  /** Operations (or grants, sessions, events) the check looked at. */
  readonly checked: number;
  /** What `checked` counts. */
  readonly unit: string;
  readonly violations: string[];
  /** Figures worth printing (counts by outcome, ...). */
  readonly notes: string[];
}

export interface Workload {
  readonly name: string;
  /** Connects the clients and starts their loops. */
  start(): Promise<void>;
  /** Ends the loops (the fault phase is over) and waits for them. */
  stop(): Promise<void>;
  /** After the heal: final reads, and what must have recovered within ctx.recoveryMs. */
  final(): Promise<void>;
  check(): CheckReport;
  /** What the check looked at beyond the journal (watch events, resource log...), for a failing run's folder. */
  dump?(): unknown;
  /** Closes every client. */
  close(): Promise<void>;
}

/** A client of the run: its client id is `<name>:<nonce>`, which the link proxies read to know who it is. */
export function connectClient(ctx: WorkloadContext, name: string, options: Partial<HikariClientOptions> = {}): Promise<HikariClient> {
  return HikariClient.connect({
    endpoints: [...ctx.endpoints], clusterId: ctx.clusterId, clientId: `${name}:${randomUUID().slice(0, 8)}`,
    timeoutMs: ctx.callTimeoutMs, connectTimeoutMs: 2000, backoffMaxMs: 1000, ...options,
  });
}

/**
 * The journal outcome of a failed call: `fail` when the error says the operation did not take
 * effect, `info` (unknown) when it may have (the catalogue's `indeterminate` flag), or for anything
 * that is not a HikariError.
 */
export function failureOutcome(error: unknown): Outcome {
  return HikariError.is(error) && !error.indeterminate ? 'fail' : 'info';
}

/** A short description of an error for the journal. */
export function errorText(error: unknown): string {
  return HikariError.is(error) ? error.code : error instanceof Error ? error.message : String(error);
}

/** Creates `path` with `data` unless it exists (a workload's root, made before its history starts). */
export async function ensureNode(client: HikariClient, path: string, data = ''): Promise<void> {
  try {
    await client.create(path, data);
  } catch (e) {
    if (!HikariError.is(e, ErrorCode.NODE_EXISTS)) throw e;
  }
}
