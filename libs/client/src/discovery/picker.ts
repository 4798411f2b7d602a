/**
 * Client-side load balancing over a service's passing instances (usually a ServiceCache's):
 *
 * - 'round-robin' (default): each instance in turn, in id order.
 * - 'random': uniformly.
 * - 'weighted': at random, in proportion to each instance's `weight`.
 * - 'least-outstanding': the instance with the fewest picks not yet released (`release()`), ties
 *   in turn. Only picks from this picker count; release each pick once its request is done.
 *
 * Down instances (Curator's DownInstancePolicy): `reportFailure(instance)` counts a failure; after
 * `failuresBeforeDown` of them within `downForMs`, the instance is skipped for `downForMs` (or the
 * `forMs` of the report), then tried again. Instances are known by id: one that re-registers under
 * the same id stays down until its time is up. When every passing instance is down, `pick` returns
 * null, as it does when there is no passing instance at all.
 *
 * Pure: the instances come from `source()`, time from `now()`, randomness from `random()`.
 */
import { HikariError } from '@hikarikeeper/protocol';
import type { Random } from '../endpoints';
import type { ServiceInstance } from './record';
import { checkTags } from './validation';

export type PickStrategy = 'round-robin' | 'random' | 'weighted' | 'least-outstanding';

export const PICK_STRATEGIES: readonly PickStrategy[] = ['round-robin', 'random', 'weighted', 'least-outstanding'];

export const DOWN_FOR_MS_DEFAULT = 30_000;
export const DOWN_FOR_MS_MAX = 24 * 60 * 60 * 1000;
export const FAILURES_BEFORE_DOWN_DEFAULT = 1;
export const FAILURES_BEFORE_DOWN_MAX = 100;

/** Instances whose failures a picker remembers; past it, the oldest entries are forgotten. */
export const DOWN_ENTRIES_MAX = 10_000;

export interface PickOptions {
  /** Default 'round-robin'. */
  strategy?: PickStrategy;
  /** Only instances carrying every one of these tags. */
  tags?: readonly string[];
}

export interface ServicePickerOptions {
  /** How long an instance reported down is skipped (ms). Default 30,000. */
  downForMs?: number;
  /** Failures (within `downForMs`) that make an instance down. Default 1. */
  failuresBeforeDown?: number;
}

export interface ReportFailureOptions {
  /** Skip it this long (ms), rather than the picker's `downForMs`. */
  forMs?: number;
}

/** A pick: the instance, and `release()` once the request sent to it is done (for 'least-outstanding'). */
export interface Picked {
  readonly instance: ServiceInstance;
  /** Ends the pick; idempotent. */
  release(): void;
}

interface FailureRecord {
  /** Times of the recent failures (at most `failuresBeforeDown` kept). */
  times: number[];
  downUntil: number;
}

export interface PickerClock {
  now(): number;
  random: Random;
}

export class ServicePicker {
  private readonly downForMs: number;
  private readonly failuresBeforeDown: number;
  private readonly failures = new Map<string, FailureRecord>();
  private readonly outstanding = new Map<string, number>();
  private turn = 0;
  private onClose: (() => void) | null;

  /** `source` lists the instances to choose among (the passing ones, in id order). */
  constructor(
    private readonly source: () => readonly ServiceInstance[],
    options: ServicePickerOptions = {},
    private readonly clock: PickerClock = { now: Date.now, random: Math.random },
    onClose: (() => void) | null = null,
  ) {
    if (typeof options !== 'object' || options === null) throw HikariError.invalidArgument('options', 'must be an object');
    this.downForMs = integer('downForMs', options.downForMs, DOWN_FOR_MS_DEFAULT, 1, DOWN_FOR_MS_MAX);
    this.failuresBeforeDown = integer('failuresBeforeDown', options.failuresBeforeDown, FAILURES_BEFORE_DOWN_DEFAULT, 1, FAILURES_BEFORE_DOWN_MAX);
    this.onClose = onClose;
  }

  /**
   * An instance chosen by `strategy` among the passing ones that are not down (and carry `tags`), or
   * null when there is none. Throws INVALID_ARGUMENT for a bad strategy or tag list.
   */
  pick(options: PickOptions = {}): Picked | null {
    const { strategy = 'round-robin', tags } = options;
    if (!PICK_STRATEGIES.includes(strategy)) throw HikariError.invalidArgument('strategy', `must be one of ${PICK_STRATEGIES.join(', ')}`);
    const wanted = tags === undefined ? null : checkTags(tags);
    const now = this.clock.now();
    const candidates = this.source().filter(
      (instance) => !this.isDownAt(instance.id, now) && (wanted === null || wanted.every((tag) => instance.tags.includes(tag))),
    );
    if (candidates.length === 0) return null;
    const instance = this.choose(strategy, candidates);
    return this.lease(instance);
  }

  /**
   * Counts a failure of `instance` (or of the instance with that id): after `failuresBeforeDown` of
   * them within `downForMs`, it is skipped for `forMs` (default `downForMs`).
   */
  reportFailure(instance: ServiceInstance | string, options: ReportFailureOptions = {}): void {
    const id = typeof instance === 'string' ? instance : instance?.id;
    if (typeof id !== 'string') throw HikariError.invalidArgument('instance', 'must be an instance or an instance id');
    const forMs = integer('forMs', options.forMs, this.downForMs, 1, DOWN_FOR_MS_MAX);
    const now = this.clock.now();
    let record = this.failures.get(id);
    if (record === undefined) {
      if (this.failures.size >= DOWN_ENTRIES_MAX) this.forgetOldest(now);
      record = { times: [], downUntil: 0 };
      this.failures.set(id, record);
    }
    record.times = record.times.filter((time) => now - time < this.downForMs);
    record.times.push(now);
    if (record.times.length >= this.failuresBeforeDown) {
      record.downUntil = Math.max(record.downUntil, now + forMs);
      record.times = [];
    }
  }

  /** Forgets the failures of `instance`: it is up again at once. */
  reportSuccess(instance: ServiceInstance | string): void {
    this.failures.delete(typeof instance === 'string' ? instance : instance.id);
  }

  /** Whether the instance with this id is skipped now. */
  isDown(id: string): boolean {
    return this.isDownAt(id, this.clock.now());
  }

  /** Picks of this instance not released yet. */
  outstandingOf(id: string): number {
    return this.outstanding.get(id) ?? 0;
  }

  /** Ends the picker (and the cache it was made with, if any). */
  close(): void {
    const onClose = this.onClose;
    this.onClose = null;
    onClose?.();
  }

  private choose(strategy: PickStrategy, candidates: readonly ServiceInstance[]): ServiceInstance {
    switch (strategy) {
      case 'round-robin':
        return candidates[this.turn++ % candidates.length]!;
      case 'random':
        return candidates[Math.floor(this.clock.random() * candidates.length)]!;
      case 'weighted': {
        const total = candidates.reduce((sum, instance) => sum + instance.weight, 0);
        let point = this.clock.random() * total;
        for (const instance of candidates) {
          point -= instance.weight;
          if (point < 0) return instance;
        }
        return candidates[candidates.length - 1]!;
      }
      case 'least-outstanding': {
        let fewest = Infinity;
        let tied: ServiceInstance[] = [];
        for (const instance of candidates) {
          const count = this.outstandingOf(instance.id);
          if (count < fewest) [fewest, tied] = [count, [instance]];
          else if (count === fewest) tied.push(instance);
        }
        return tied[this.turn++ % tied.length]!;
      }
    }
  }

  private lease(instance: ServiceInstance): Picked {
    const id = instance.id;
    this.outstanding.set(id, this.outstandingOf(id) + 1);
    let released = false;
    return {
      instance,
      release: () => {
        if (released) return;
        released = true;
        const count = this.outstandingOf(id) - 1;
        if (count > 0) this.outstanding.set(id, count);
        else this.outstanding.delete(id);
      },
    };
  }

  private isDownAt(id: string, now: number): boolean {
    const record = this.failures.get(id);
    return record !== undefined && record.downUntil > now;
  }

  /** Makes room: drops entries no longer down first, then the oldest. */
  private forgetOldest(now: number): void {
    for (const [id, record] of this.failures) {
      if (record.downUntil <= now && record.times.every((time) => now - time >= this.downForMs)) this.failures.delete(id);
    }
    if (this.failures.size >= DOWN_ENTRIES_MAX) this.failures.delete(this.failures.keys().next().value!);
  }
}

function integer(field: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw HikariError.invalidArgument(field, `must be an integer in [${min}, ${max}]`);
  return value;
}
