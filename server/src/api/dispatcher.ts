import { randomUUID } from 'node:crypto';
import {
  ErrorCode, errorFromWire, FRAME_BYTES_MAX, HelloResult, HikariError, IN_FLIGHT_REQUESTS_MAX, MultiOp, PROTOCOL_VERSION,
  RequestLimits, ValidatedRequest,
} from '@hikarikeeper/protocol';
import type { RaftRuntime } from '../runtime/raft-runtime';
import type { CoordinationStateMachine } from '../coordination/state-machine';
import type { Command } from '../coordination/commands';
import type { Clock } from '../runtime/clock';

/** What one client connection knows about itself. */
export interface ConnectionState {
  clientId: string | null;
}

/**
 * Turns validated requests into runtime calls: writes are proposed through Raft (leader only: a
 * follower answers NOT_LEADER with the leader's client address), reads wait for a linearizable read
 * point unless `stale`. Every failure is a HikariError with a stable code.
 */
export class Dispatcher {
  constructor(
    private readonly runtime: RaftRuntime,
    private readonly sm: CoordinationStateMachine,
    private readonly clock: Clock,
    readonly clusterId: string,
    readonly limits: RequestLimits,
  ) {}

  async handle(conn: ConnectionState, req: ValidatedRequest): Promise<unknown> {
    if (req.op !== 'hello' && conn.clientId === null) {
      throw new HikariError(ErrorCode.INVALID_ARGUMENT, { field: 'op', reason: 'the first request on a connection must be hello' });
    }
    switch (req.op) {
      case 'hello':
        return this.hello(conn, req.args);
      case 'ping':
        return {};
      case 'create':
      case 'set':
      case 'delete': {
        const { seq, ...fields } = req.args;
        return this.write(conn, { k: 'ns', op: { op: req.op, ...fields } as MultiOp, s: seq, c: conn.clientId ?? undefined, t: this.clock.now() });
      }
      case 'multi':
        return this.write(conn, { k: 'multi', ops: req.args.ops, s: req.args.seq, c: conn.clientId ?? undefined, t: this.clock.now() });
      case 'get':
        await this.readPoint(req.args.stale);
        return this.sm.get(req.args.path);
      case 'exists':
        await this.readPoint(req.args.stale);
        return this.sm.exists(req.args.path);
      case 'children':
        await this.readPoint(req.args.stale);
        return this.sm.children(req.args.path, req.args.after, req.args.limit);
      case 'sync':
        return { index: await this.runtime.readBarrier() };
    }
  }

  private hello(conn: ConnectionState, args: { clusterId?: string; clientId?: string }): HelloResult {
    if (args.clusterId !== undefined && args.clusterId !== this.clusterId) {
      throw new HikariError(ErrorCode.CLUSTER_MISMATCH, { expected: args.clusterId, actual: this.clusterId });
    }
    conn.clientId = args.clientId ?? randomUUID();
    return {
      protocol: PROTOCOL_VERSION,
      clusterId: this.clusterId,
      nodeId: this.runtime.id,
      clientId: conn.clientId,
      sessionId: '',
      sessionTimeoutMs: 0,
      leader: this.runtime.leaderClientAddress(),
      limits: { frameBytesMax: FRAME_BYTES_MAX, dataBytesMax: this.limits.dataBytesMax, inFlightRequestsMax: IN_FLIGHT_REQUESTS_MAX },
    };
  }

  private async write(_conn: ConnectionState, cmd: Command): Promise<unknown> {
    if (cmd.s === undefined) delete cmd.s;
    const outcome = await this.runtime.propose(cmd);
    if (!outcome.ok) throw errorFromWire(outcome.error);
    return outcome.value;
  }

  private async readPoint(stale: boolean | undefined): Promise<void> {
    if (stale === true) return;
    await this.runtime.readBarrier();
  }
}
