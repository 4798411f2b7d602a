/**
 * The decorators: `@DistributedLock(key, options)`, `@LeaderOnly(election)`, `@InjectHikari()`.
 *
 * How a decorated method comes to take its lock (or check its leadership):
 * 1. The decorator records what the method needs (a `HikariMethod`) and leaves a forwarding stub in
 *    its place. The stub carries every metadata key of the method it replaces (copied when the
 *    decorator is applied; decorators applied after it write to the stub itself), so `@Get`,
 *    `@Cron`, `@MessagePattern` or Swagger read on the stub what they would have read on the method.
 * 2. HikariModule's explorer (explorer.ts) finds the decorated methods of every provider and
 *    controller and binds, for each instance, a runner (lock.service.ts, election.service.ts): the
 *    code that takes the lock with the module's driver, or asks the module's election.
 * 3. A call goes through the stub to the runner bound to `this`, which calls the method itself.
 *
 * Why a stub, rather than wrapping `instance[method]` at module init: Nest binds HTTP routes (and
 * other frameworks their handlers) to the method they find before any `onModuleInit` has run, so a
 * wrapper installed then is bypassed by them; and an instance exists, and can be called, before any
 * hook. The stub is on the prototype from the start, and the lock logic still comes from the
 * module's providers: nothing global, several applications in one process each use their own.
 *
 * A call that finds no runner (an instance HikariModule has not set up: made before the module's
 * providers exist, by an application without HikariModule, with `new`, or after its application
 * shut down) fails with HikariNotReadyError rather than running without its lock.
 */
import 'reflect-metadata';
import { Inject } from '@nestjs/common';
import type { LockMode } from '@hikarikeeper/client';
import { HikariNotReadyError } from './errors';
import { compileKey, KeyBuilder, LockKey } from './lock-key';
import { isWaitMs } from './options';
import { HIKARI_CLIENT } from './tokens';

/** The metadata key (on the method) listing what HikariModule must set up for it: HikariMethod[]. */
export const HIKARI_METHODS_METADATA = 'hikari:methods';

export interface DistributedLockOptions {
  /** Default: the module's `locks.mode` ('exclusive'). 'shared' needs the cluster driver. */
  mode?: LockMode;
  /** Exclusive holders allowed at once (a semaphore; cluster driver only). Everyone using the name must agree. Default 1. */
  permits?: number;
  /** Longest wait for the lock (ms); 0: do not wait. Default: the module's `locks.waitMs` (wait until granted). */
  waitMs?: number;
  /** When `waitMs` passes: 'throw' LockTimeoutException (HTTP 409), or 'skip' the call (it resolves undefined). Default: the module's (`'throw'`). */
  onTimeout?: 'throw' | 'skip';
  /**
   * The lease, driver 'redis' only: how long the lock outlives a holder that stopped extending it
   * (crashed, paused), in ms. Default: the driver's (`redis.leaseMs`, 30,000). With the cluster driver
   * a lock lasts as long as the session that holds it (`sessionTimeoutMs`): the start fails with
   * HikariConfigError if a method sets it.
   */
  leaseMs?: number;
  /**
   * Driver 'redis' only: extend the lease while the method runs (default: the driver's, true).
   * false: the lock is held at most `leaseMs`, even if the method runs longer — `currentSignal()`
   * aborts then, and the call rejects with LOCK_NOT_HELD or FENCE_MISMATCH once the method returns.
   */
  autoExtend?: boolean;
  /** The method's parameter names, for a template naming them where they cannot be read from the source (minified code, destructuring). */
  params?: readonly string[];
}

/** What @DistributedLock records. */
export interface LockMethod {
  readonly kind: 'lock';
  /** `Class.method`, for messages. */
  readonly where: string;
  /** The key as given (a template), or '(function)'. */
  readonly keySource: string;
  readonly key: KeyBuilder;
  readonly options: Readonly<Omit<DistributedLockOptions, 'params'>>;
}

/** What @LeaderOnly records. */
export interface LeaderMethod {
  readonly kind: 'leader';
  readonly where: string;
  readonly election: string;
}

export type HikariMethod = LockMethod | LeaderMethod;

/** The code bound to one decorated method of one instance: runs `original` (the method) as it should. */
export type Runner = (original: Function, instance: object, args: unknown[]) => unknown;

/**
 * Runs the method holding a distributed lock whose name is built from its arguments (see lock-key.ts):
 *
 * ```ts
 * @DistributedLock('orders:{0}')                        // the first argument
 * @DistributedLock('orders:{dto.id}', { waitMs: 2000 }) // a property of the parameter named dto
 * @DistributedLock((id: string) => `orders:${id}`, { onTimeout: 'skip' })
 * ```
 *
 * The call resolves with the method's result once the lock is released (the method always returns a
 * Promise: declare it `async`). Inside, `currentFence()` is the grant's fencing token. With `waitMs`,
 * a lock not granted in time rejects with LockTimeoutException (409), or resolves undefined with
 * `onTimeout: 'skip'`, without calling the method. `currentSignal()` aborts if the lock is lost while
 * the method runs (its session expired; on Redis, its lease lapsed). If the release fails after the method succeeded
 * (the session expired meanwhile, so someone else may have held the lock), the call rejects with
 * that error: the method's work may not have been exclusive. A nested call with the same lock name
 * runs under the grant already held.
 */
export function DistributedLock(key: LockKey, options: DistributedLockOptions = {}): MethodDecorator {
  checkLockOptions(options);
  return (target, propertyKey, descriptor) => {
    const where = whereOf(target, propertyKey);
    const original = methodOf(descriptor, where, '@DistributedLock');
    const { params, ...rest } = options;
    const method: LockMethod = {
      kind: 'lock',
      where,
      keySource: typeof key === 'string' ? key : '(function)',
      key: compileKey(key, original, where, params),
      options: rest,
    };
    return install(descriptor, original, method, `@DistributedLock(${typeof key === 'string' ? `'${key}'` : 'fn'})`);
  };
}

/**
 * Runs the method only in the instance of the application that leads election `election`; in the
 * others the call is skipped and returns undefined (a Promise of undefined for an async method).
 * HikariModule campaigns for every election named by a @LeaderOnly method once the application has
 * started (`onApplicationBootstrap`), stands again after a session expiry, and resigns on shutdown.
 * Typically with `@Cron` or an interval. Needs the cluster.
 */
export function LeaderOnly(election: string): MethodDecorator {
  if (typeof election !== 'string' || election.length === 0) throw new Error('@LeaderOnly(election): the election name must be a non-empty string');
  return (target, propertyKey, descriptor) => {
    const where = whereOf(target, propertyKey);
    const original = methodOf(descriptor, where, '@LeaderOnly');
    return install(descriptor, original, { kind: 'leader', where, election }, `@LeaderOnly('${election}')`);
  };
}

/** Injects the connected HikariClient (null with driver 'redis' and no `endpoints`). */
export const InjectHikari = (): PropertyDecorator & ParameterDecorator => Inject(HIKARI_CLIENT);

// ---------------------------------------------------------------- runners, bound by the explorer

/** Runners by instance, then by decorated method. */
const runners = new WeakMap<object, Map<HikariMethod, Runner>>();
/** Instances of applications that shut down. */
const retired = new WeakSet<object>();
/** The explorers of live applications: each sets up `instance` if it is one of its own, and says so. */
const adopters = new Set<(instance: object) => boolean>();

/** Binds `runner` to `method` of `instance`. */
export function arm(instance: object, method: HikariMethod, runner: Runner): void {
  let byMethod = runners.get(instance);
  if (byMethod === undefined) runners.set(instance, (byMethod = new Map()));
  byMethod.set(method, runner);
}

export function isArmed(instance: object): boolean {
  return runners.has(instance);
}

/** Unbinds every runner of `instance`: its application shut down. */
export function retire(instance: object): void {
  runners.delete(instance);
  retired.add(instance);
}

/** An explorer's way to set up, on first call, an instance it had not reached yet (see explorer.ts). */
export function addAdopter(adopt: (instance: object) => boolean): () => void {
  adopters.add(adopt);
  return () => adopters.delete(adopt);
}

function runnerOf(instance: unknown, method: HikariMethod): Runner | undefined {
  if (typeof instance !== 'object' || instance === null) return undefined;
  if (!runners.has(instance) && !retired.has(instance)) {
    for (const adopt of adopters) if (adopt(instance)) break;
  }
  return runners.get(instance)?.get(method);
}

function install(descriptor: PropertyDescriptor, original: Function, method: HikariMethod, decorator: string): PropertyDescriptor {
  const stub = function (this: unknown, ...args: unknown[]): unknown {
    const runner = runnerOf(this, method);
    if (runner === undefined) return notReady(this, method, decorator, original);
    return runner(original, this as object, args);
  };
  for (const key of Reflect.getOwnMetadataKeys(original)) Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), stub);
  const inner = (Reflect.getOwnMetadata(HIKARI_METHODS_METADATA, original) as HikariMethod[] | undefined) ?? [];
  Reflect.defineMetadata(HIKARI_METHODS_METADATA, [...inner, method], stub);
  Object.defineProperty(stub, 'name', { value: original.name, configurable: true });
  Object.defineProperty(stub, 'length', { value: original.length, configurable: true });
  descriptor.value = stub;
  return descriptor;
}

function notReady(instance: unknown, method: HikariMethod, decorator: string, original: Function): unknown {
  let why: string;
  if (typeof instance !== 'object' || instance === null) {
    why = 'it was called without its instance (a detached method: bind it, or call it on the instance)';
  } else if (retired.has(instance)) {
    why = 'its application has shut down';
  } else {
    why =
      'HikariModule has not set up this instance: it was called before the module\'s providers were created (from a constructor?), ' +
      'or the instance does not belong to an application that imports HikariModule (made with `new`, or a request-scoped provider)';
  }
  const error = new HikariNotReadyError(`${method.where} (${decorator}) cannot run: ${why}`);
  // A lock method always answers a Promise; a leader-only method keeps its own way of failing.
  if (method.kind === 'lock' || isAsyncFunction(original)) return Promise.reject(error);
  throw error;
}

export function isAsyncFunction(fn: Function): boolean {
  return (fn as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'AsyncFunction';
}

function whereOf(target: object, propertyKey: string | symbol): string {
  if (typeof target === 'function') throw new Error(`${target.name}.${String(propertyKey)}: Hikari decorators apply to instance methods, not static ones`);
  return `${target.constructor.name}.${String(propertyKey)}`;
}

function methodOf(descriptor: PropertyDescriptor, where: string, decorator: string): Function {
  if (typeof descriptor?.value !== 'function') throw new Error(`${where}: ${decorator} applies to methods only`);
  return descriptor.value as Function;
}

function checkLockOptions(options: DistributedLockOptions): void {
  if (typeof options !== 'object' || options === null) throw new Error('@DistributedLock: the options must be an object');
  const { mode, waitMs, onTimeout, permits, params, leaseMs, autoExtend } = options;
  if (leaseMs !== undefined && (!Number.isSafeInteger(leaseMs) || leaseMs < 1)) throw new Error('@DistributedLock: `leaseMs` must be a positive integer (ms)');
  if (autoExtend !== undefined && typeof autoExtend !== 'boolean') throw new Error('@DistributedLock: `autoExtend` must be a boolean');
  if (mode !== undefined && mode !== 'exclusive' && mode !== 'shared') throw new Error("@DistributedLock: `mode` must be 'exclusive' or 'shared'");
  if (waitMs !== undefined && !isWaitMs(waitMs)) throw new Error('@DistributedLock: `waitMs` must be a finite number of ms ≥ 0');
  if (onTimeout !== undefined && onTimeout !== 'throw' && onTimeout !== 'skip') throw new Error("@DistributedLock: `onTimeout` must be 'throw' or 'skip'");
  if (permits !== undefined && (!Number.isSafeInteger(permits) || permits < 1)) throw new Error('@DistributedLock: `permits` must be an integer ≥ 1');
  if (params !== undefined && (!Array.isArray(params) || !params.every((p) => typeof p === 'string'))) {
    throw new Error('@DistributedLock: `params` must be an array of parameter names');
  }
}
