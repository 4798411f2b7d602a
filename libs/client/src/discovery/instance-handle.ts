/**
 * A registered instance, as the registering process holds it: `update` (an atomic set of its
 * record), `deregister`, and the upkeep in between. The record is the ephemeral node
 * `/services/<service>/<id>`, owned by the client's session.
 *
 * Writing the record (`put`), whatever the reason:
 * - Known to be ours (we wrote it, at `version`, on the current session): `set` with that version.
 * - Otherwise, or when that set finds the node gone or changed: `create` it (ephemeral), creating
 *   `/services` and `/services/<service>` first when missing (persistent; NODE_EXISTS is fine). If a
 *   node with this id exists (an earlier run of the same instance whose session has not expired yet,
 *   another process given the same id), it is replaced: one `multi` deletes it at the version just
 *   read and creates ours, so that nothing in between is lost or overwritten unseen; a concurrent
 *   change makes it fail as a whole, and the put starts over. The last registration of an id wins:
 *   ids must name one live instance.
 *
 * Upkeep:
 * - Session expired (the client's `expired` event): the record went with the session. It is written
 *   again, with the handle's latest data, on the client's next session; then `registered` (reason
 *   'session-expired').
 * - A write that fails (the cluster unreachable past the client's `timeoutMs`) is retried with
 *   backoff, for ever, until it succeeds, the handle is deregistered or the client closes;
 *   `retrying` says so each time. The calls waiting on it (`update`, `deregister`) are rejected with
 *   that first failure (TIMEOUT: the write may have applied), except SESSION_EXPIRED, which they sit
 *   out (the write goes again on the next session).
 * - Writes are serialized and coalesced: several updates while a write is under way make one write
 *   of the latest data.
 *
 * Health probe (`check`, see health-probe.ts): while it fails, a `passing` or `warning` instance is
 * set `critical`; when it recovers, the status it had comes back. A status the application set
 * itself to `critical` or `maintenance` is left alone.
 *
 * Events (`on`): `registered`, `retrying`, `status`. There is no `error` event (an unheard one
 * would crash the process): failures reach callers through `update` and `deregister`, and `retrying`.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { backoffDelayMs, Random } from '../endpoints';
import { HealthCheckOptions, HealthProbe, ProbeResult, resolveProbe } from './health-probe';
import type { DiscoveryPort } from './port';
import { encodeRecord, InstanceRecord, instancePath, RECORD_FORMAT, servicePath, SERVICES_ROOT } from './record';
import {
  checkHost,
  checkMetadata,
  checkPort,
  checkProtocol,
  checkServiceName,
  checkStatus,
  checkTags,
  checkWeight,
  ServiceMetadata,
  ServiceStatus,
  WEIGHT_DEFAULT,
} from './validation';
import { TypedEmitter } from '../typed-emitter';

/** Backoff between attempts of a failed write: 100 ms doubling to 10 s, with jitter. */
export const REGISTRATION_BACKOFF = { initialMs: 100, maxMs: 10_000 } as const;

/** Rounds of create / replace before a put gives up (the node kept changing under it). */
const PUT_ROUNDS_MAX = 8;

export interface RegisterOptions {
  /** The service's name: a letter or digit, then up to 62 letters, digits, '.', '_' or '-'. */
  service: string;
  /** The instance's id, unique among the live instances of the service (same rules). Default: a random UUID. */
  id?: string;
  /** Where to reach it: an IP address or a host name. */
  host: string;
  port: number;
  /** 'http', 'grpc', ... (informational). */
  protocol?: string;
  /** Up to 64 distinct tags of up to 128 characters. */
  tags?: readonly string[];
  /** A JSON object, at most 8 KiB as JSON. */
  metadata?: ServiceMetadata;
  /** For the 'weighted' strategy: an integer in [1, 1000]. Default 1. */
  weight?: number;
  /** Default 'passing'. */
  status?: ServiceStatus;
  /** An SDK-side health probe (see health-probe.ts). */
  check?: HealthCheckOptions;
}

/** What `update` may change; a field left out keeps its value (`metadata` and `tags` are replaced whole). */
export interface InstanceUpdate {
  status?: ServiceStatus;
  weight?: number;
  tags?: readonly string[];
  metadata?: ServiceMetadata;
}

export interface RegisteredEvent {
  /**
   * 'registered': the first registration; 'session-expired': written again on a new session after
   * the old one expired; 'lost': written again after the node was found deleted or changed by someone else.
   */
  reason: 'registered' | 'session-expired' | 'lost';
  /** The session that owns the record now. */
  sessionId: string | null;
  /** The log index of the record's creation. */
  index: number;
}

export interface RetryingEvent {
  /** Why the last write failed. */
  error: HikariError;
  /** Consecutive failures so far. */
  attempt: number;
  /** When the next attempt goes (ms). */
  delayMs: number;
}

export interface StatusEvent {
  status: ServiceStatus;
  previous: ServiceStatus;
  /** 'update': the application; 'probe': the health probe. */
  by: 'update' | 'probe';
  /** With `by: 'probe'` and a failing check: what failed. */
  failure?: string;
}

export interface InstanceHandleEvents {
  registered: RegisteredEvent;
  retrying: RetryingEvent;
  status: StatusEvent;
}

export type InstanceHandleEventName = keyof InstanceHandleEvents;

/** How a handle reaches its owner (the Discovery facade). */
export interface HandleHooks {
  /** The handle is gone for good (its record removed, or the client closed). */
  finished(handle: InstanceHandle): void;
  random?: Random;
}

/**
 * 'registering': the record is being written (first time, or again); 'registered': it is in place;
 * 'deregistered': `deregister()` was called (the removal may still be under way); 'closed': the client closed.
 */
export type InstanceState = 'registering' | 'registered' | 'deregistered' | 'closed';

interface Waiter {
  readonly generation: number;
  resolve(): void;
  reject(error: HikariError): void;
}

/** The record for `options`, checked (INVALID_ARGUMENT / TOO_LARGE naming the field). */
export function recordFor(options: RegisterOptions, id: string, now: number): InstanceRecord {
  if (typeof options !== 'object' || options === null) throw HikariError.invalidArgument('options', 'must be an object');
  return {
    v: RECORD_FORMAT,
    service: checkServiceName(options.service, 'service'),
    id: checkServiceName(id, 'id'),
    host: checkHost(options.host),
    port: checkPort(options.port),
    protocol: options.protocol === undefined ? null : checkProtocol(options.protocol),
    tags: options.tags === undefined ? [] : checkTags(options.tags),
    metadata: options.metadata === undefined ? {} : checkMetadata(options.metadata),
    weight: options.weight === undefined ? WEIGHT_DEFAULT : checkWeight(options.weight),
    status: options.status === undefined ? 'passing' : checkStatus(options.status),
    registeredAt: now,
  };
}

export class InstanceHandle extends TypedEmitter<InstanceHandleEvents> {
  readonly service: string;
  readonly id: string;
  /** `/services/<service>/<id>`. */
  readonly path: string;
  private readonly random: Random;
  private current: InstanceRecord;
  private phase: InstanceState = 'registering';
  private reason: RegisteredEvent['reason'] = 'registered';
  /** Our node's version and owner, once written; version null: it must be created. */
  private version: number | null = null;
  private owner: string | null = null;
  private index = 0;
  /** Writes asked for, and done: a write done covers every request made before it started. */
  private requested = 0;
  private completed = 0;
  private running = false;
  private waiters: Waiter[] = [];
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly probe: HealthProbe | null;
  /** The status the probe replaced with `critical`; null when the probe did not set the current status. */
  private statusBeforeProbe: ServiceStatus | null = null;
  private readonly done: Promise<void>;
  private markDone!: () => void;

  /** Use `client.discovery.register`. `check` is the registration's probe, already checked. */
  constructor(
    private readonly port: DiscoveryPort,
    record: InstanceRecord,
    check: HealthCheckOptions | undefined,
    private readonly hooks: HandleHooks,
  ) {
    super();
    this.current = record;
    this.service = record.service;
    this.id = record.id;
    this.path = instancePath(record.service, record.id);
    this.random = hooks.random ?? Math.random;
    this.probe = check === undefined ? null : new HealthProbe(resolveProbe(check, record.host, record.port), (result) => this.probed(result));
    this.done = new Promise((resolve) => (this.markDone = resolve));
  }

  /** The record as this handle last set it (written, or being written). */
  get record(): InstanceRecord {
    return this.current;
  }

  get status(): ServiceStatus {
    return this.current.status;
  }

  get state(): InstanceState {
    return this.phase;
  }

  /** True while the record is known to be in place (false while it is being written again, and once deregistered). */
  get registered(): boolean {
    return this.phase === 'registered';
  }

  /** The session that owns the record (null before the first write). */
  get sessionId(): string | null {
    return this.owner;
  }

  /** The log index of the record's last write by this handle. */
  get modifiedIndex(): number {
    return this.index;
  }

  /** The probe's verdict: true, false, or null (not known yet, or no probe). */
  get healthy(): boolean | null {
    return this.probe?.healthy ?? null;
  }




  /**
   * Sets the record's status, weight, tags and/or metadata in one write; resolves once it is stored.
   * Throws INVALID_ARGUMENT / TOO_LARGE before anything is sent; CANCELLED once deregistered or the
   * client closed; the write's failure otherwise (TIMEOUT: it is retried in the background).
   */
  update(changes: InstanceUpdate): Promise<void> {
    if (this.phase === 'deregistered' || this.phase === 'closed') return Promise.reject(this.gone());
    if (typeof changes !== 'object' || changes === null) return Promise.reject(HikariError.invalidArgument('changes', 'must be an object'));
    let next: InstanceRecord;
    try {
      next = {
        ...this.current,
        status: changes.status === undefined ? this.current.status : checkStatus(changes.status),
        weight: changes.weight === undefined ? this.current.weight : checkWeight(changes.weight),
        tags: changes.tags === undefined ? this.current.tags : checkTags(changes.tags),
        metadata: changes.metadata === undefined ? this.current.metadata : checkMetadata(changes.metadata),
      };
    } catch (error) {
      return Promise.reject(error);
    }
    const previous = this.current.status;
    this.current = next;
    if (changes.status !== undefined) {
      this.statusBeforeProbe = null; // the application decides now
      if (next.status !== previous) this.emit('status', { status: next.status, previous, by: 'update' });
    }
    return this.request();
  }

  /**
   * Removes the record (if it is still this client's: one written since by another session is left
   * alone) and stops the upkeep and the probe. Resolves once it is removed; idempotent. On failure
   * (TIMEOUT) the removal goes on in the background; the session's end would remove it anyway.
   */
  deregister(): Promise<void> {
    if (this.phase === 'closed') return Promise.resolve();
    if (this.phase !== 'deregistered') {
      this.phase = 'deregistered';
      this.probe?.stop();
      const cancelled = this.gone();
      for (const waiter of this.waiters.splice(0)) waiter.reject(cancelled);
      // A write waiting out a backoff need not go: the removal goes now.
      if (this.retryTimer !== null) clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    return this.request();
  }

  /** Resolves once the handle is finished: deregistered and removed, or its client closed. */
  finished(): Promise<void> {
    return this.done;
  }

  // ---------------------------------------------------------------- internal (Discovery)

  /** The first registration: resolves once the record is written; rejects with the first failure. */
  async start(): Promise<void> {
    await this.request();
    if (this.phase === 'registered' || this.phase === 'registering') this.probe?.start();
  }

  /** The client's session expired: the record is gone; write it again on the next session. */
  sessionExpired(): void {
    if (this.phase !== 'registered' && this.phase !== 'registering') return;
    this.phase = 'registering';
    this.version = null;
    this.owner = null;
    this.reason = 'session-expired';
    this.request().catch(() => undefined); // failures are retried; `retrying` reports them
  }

  /** The client closed: nothing more is sent (the session's end removes the record). */
  close(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.probe?.stop();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const cancelled = this.gone();
    for (const waiter of this.waiters.splice(0)) waiter.reject(cancelled);
    this.finish();
  }

  // ---------------------------------------------------------------- the write loop

  /** Asks for a write of the current state; resolves when one that started after this call is done. */
  private request(): Promise<void> {
    const generation = ++this.requested;
    const promise = new Promise<void>((resolve, reject) => this.waiters.push({ generation, resolve, reject }));
    this.pump();
    return promise;
  }

  private pump(): void {
    if (this.running || this.retryTimer !== null || this.phase === 'closed' || this.completed >= this.requested) return;
    const target = this.requested;
    this.running = true;
    this.writeOnce().then(
      () => this.wrote(target),
      (error: unknown) => this.writeFailed(target, asHikariError(error)),
    );
  }

  private wrote(target: number): void {
    this.running = false;
    this.failures = 0;
    this.completed = Math.max(this.completed, target);
    this.settle(target, null);
    if (this.phase === 'deregistered' && this.completed >= this.requested) this.finish();
    this.pump();
  }

  private writeFailed(target: number, error: HikariError): void {
    this.running = false;
    if (this.phase === 'closed') return;
    // An expired session: the write goes again on the next one, and those waiting wait on.
    if (error.code !== ErrorCode.SESSION_EXPIRED) this.settle(target, error);
    const delayMs = backoffDelayMs(++this.failures, REGISTRATION_BACKOFF, this.random);
    this.emit('retrying', { error, attempt: this.failures, delayMs });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, delayMs);
    this.retryTimer.unref();
  }

  private settle(target: number, error: HikariError | null): void {
    const remaining: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.generation > target) remaining.push(waiter);
      else if (error === null) waiter.resolve();
      else waiter.reject(error);
    }
    this.waiters = remaining;
  }

  private async writeOnce(): Promise<void> {
    if (this.phase === 'deregistered') return this.remove();
    const data = encodeRecord(this.current);
    if (this.version !== null && this.phase === 'registered') {
      try {
        const { stat } = await this.port.set(this.path, data, { version: this.version });
        this.version = stat.version;
        this.index = stat.modifiedIndex;
        return;
      } catch (error) {
        if (!HikariError.is(error, ErrorCode.BAD_VERSION) && !HikariError.is(error, ErrorCode.NO_NODE)) throw error;
        // Deleted or changed by someone else while our session lives: write it again.
        this.reason = 'lost';
        this.phase = 'registering';
      }
    }
    await this.put(data);
    if (this.phase !== 'registering') return; // deregistered or closed meanwhile: the next round removes it
    this.phase = 'registered';
    const reason = this.reason;
    this.emit('registered', { reason, sessionId: this.owner, index: this.index });
  }

  /** Creates our node, replacing any node of that id (see the head comment). */
  private async put(data: Buffer): Promise<void> {
    let last: HikariError | null = null;
    for (let round = 0; round < PUT_ROUNDS_MAX; round++) {
      try {
        const { stat } = await this.port.create(this.path, data, { mode: 'ephemeral' });
        return this.placed(stat.version, stat.ephemeralOwner, stat.createdIndex);
      } catch (error) {
        last = asHikariError(error);
        if (last.code === ErrorCode.NO_NODE) {
          await this.createParents();
          continue;
        }
        if (last.code !== ErrorCode.NODE_EXISTS) throw last;
      }
      const found = await this.port.exists(this.path);
      if (found === null) continue; // gone meanwhile: create again
      try {
        const { results } = await this.port.multi([
          { op: 'delete', path: this.path, version: found.stat.version },
          { op: 'create', path: this.path, data, mode: 'ephemeral' },
        ]);
        const created = results[1];
        if (created?.op !== 'create') throw HikariError.badFrame('malformed multi result: no create result', { op: 'multi' });
        return this.placed(created.stat.version, created.stat.ephemeralOwner, created.stat.createdIndex);
      } catch (error) {
        last = asHikariError(error);
        const raced = last.code === ErrorCode.BAD_VERSION || last.code === ErrorCode.NO_NODE || last.code === ErrorCode.NODE_EXISTS;
        if (!raced) throw last;
      }
    }
    throw new HikariError(
      ErrorCode.UNAVAILABLE,
      { path: this.path, reason: 'the node kept changing' },
      { message: `could not write ${this.path}: it changed under each of ${PUT_ROUNDS_MAX} attempts`, cause: last },
    );
  }

  private placed(version: number, owner: string | null, index: number): void {
    this.version = version;
    this.owner = owner;
    this.index = index;
  }

  private async createParents(): Promise<void> {
    for (const path of [SERVICES_ROOT, servicePath(this.service)]) {
      try {
        await this.port.create(path, '', { mode: 'persistent' });
      } catch (error) {
        if (!HikariError.is(error, ErrorCode.NODE_EXISTS)) throw error;
      }
    }
  }

  /** Deletes the node if the current session owns it (it may be a create whose answer was lost). */
  private async remove(): Promise<void> {
    for (let round = 0; round < PUT_ROUNDS_MAX; round++) {
      const found = await this.port.exists(this.path);
      const session = this.port.session?.id;
      if (found === null || session === undefined || found.stat.ephemeralOwner !== session) return;
      try {
        await this.port.delete(this.path, { version: found.stat.version });
        return;
      } catch (error) {
        if (HikariError.is(error, ErrorCode.NO_NODE)) return;
        if (!HikariError.is(error, ErrorCode.BAD_VERSION)) throw error;
      }
    }
  }

  // ---------------------------------------------------------------- probe

  private probed(result: ProbeResult): void {
    if (this.phase !== 'registered' && this.phase !== 'registering') return;
    const status = this.current.status;
    if (result.healthy === false && (status === 'passing' || status === 'warning')) {
      this.statusBeforeProbe = status;
      this.setStatusByProbe('critical', result.failure ?? undefined);
    } else if (result.healthy === true && status === 'critical' && this.statusBeforeProbe !== null) {
      const restored = this.statusBeforeProbe;
      this.statusBeforeProbe = null;
      this.setStatusByProbe(restored, undefined);
    }
  }

  private setStatusByProbe(status: ServiceStatus, failure: string | undefined): void {
    const previous = this.current.status;
    this.current = { ...this.current, status };
    this.emit('status', failure === undefined ? { status, previous, by: 'probe' } : { status, previous, by: 'probe', failure });
    this.request().catch(() => undefined); // retried; `retrying` reports failures
  }

  // ---------------------------------------------------------------- helpers

  private finish(): void {
    this.markDone();
    this.hooks.finished(this);
  }

  private gone(): HikariError {
    const reason = this.phase === 'closed' ? 'the client was closed' : 'the instance was deregistered';
    return new HikariError(ErrorCode.CANCELLED, { path: this.path, reason }, { message: `${this.path}: ${reason}` });
  }

}

function asHikariError(error: unknown): HikariError {
  if (error instanceof HikariError) return error;
  return new HikariError(ErrorCode.INTERNAL, { reason: error instanceof Error ? error.message : String(error) }, { cause: error });
}
