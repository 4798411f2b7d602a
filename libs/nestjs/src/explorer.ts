/**
 * HikariExplorer (internal): finds the @DistributedLock and @LeaderOnly methods of the application's
 * providers and controllers (DiscoveryService, MetadataScanner, Reflector) and binds, for each
 * instance, the runner that serves them (see decorators.ts): HikariLockService's for locks, a check of
 * HikariElection's `isLeader` for leader-only methods.
 *
 * When:
 * - `onModuleInit`: every instance is set up, and the elections named by @LeaderOnly are collected
 *   (without a cluster, a @LeaderOnly method fails the start here, with HikariClusterRequiredError).
 * - Before that, on first call: an instance of this application called before the module's
 *   `onModuleInit` (from another module's `onModuleInit`, which Nest may run first, or from a
 *   testing module that was compiled but not initialised) is set up then (`adopt`).
 * - `onApplicationBootstrap`: the application campaigns in those elections (without waiting to be
 *   elected: the others stand in the queue).
 * - `onApplicationShutdown`: the instances are retired; later calls fail with HikariNotReadyError.
 *
 * Request-scoped providers (made per request, after the explorer ran) are not supported: their
 * decorated methods fail with HikariNotReadyError, and the start logs a warning naming them.
 * Transient providers are: each of their instances is set up.
 */
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import type { HikariConnection } from './connection';
import { addAdopter, arm, HIKARI_METHODS_METADATA, HikariMethod, isArmed, isAsyncFunction, LeaderMethod, retire, Runner } from './decorators';
import { HikariElection } from './election.service';
import { HikariClusterRequiredError } from './errors';
import { HikariLockService } from './lock.service';
import { HIKARI_CONNECTION } from './tokens';

@Injectable()
export class HikariExplorer implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  /** Instances set up, to retire at shutdown. */
  private readonly armed = new Set<object>();
  /** Elections named by @LeaderOnly methods. */
  private readonly elections = new Set<string>();
  private readonly stopAdopting: () => void;
  private warned = false;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly locks: HikariLockService,
    private readonly election: HikariElection,
    @Inject(HIKARI_CONNECTION) private readonly connection: HikariConnection,
  ) {
    this.stopAdopting = addAdopter((instance) => this.adopt(instance));
  }

  onModuleInit(): void {
    for (const wrapper of this.wrappers()) {
      for (const instance of this.instancesOf(wrapper)) this.armInstance(instance);
    }
    if (this.elections.size > 0 && this.connection.client === null) {
      throw new HikariClusterRequiredError(`@LeaderOnly (elections ${[...this.elections].join(', ')})`);
    }
  }

  onApplicationBootstrap(): void {
    for (const name of this.elections) void this.election.campaign(name).catch(() => undefined); // failures are logged and retried there
  }

  onApplicationShutdown(): void {
    this.stopAdopting();
    for (const instance of this.armed) retire(instance);
    this.armed.clear();
  }

  /** Sets up `instance` if it is one of this application's (see the head comment); says whether it did. */
  private adopt(instance: object): boolean {
    if (this.connection.closed) return false;
    for (const wrapper of this.wrappers()) {
      if (this.instancesOf(wrapper).includes(instance)) {
        this.armInstance(instance);
        return true;
      }
    }
    return false;
  }

  private wrappers(): InstanceWrapper[] {
    return [...this.discovery.getProviders(), ...this.discovery.getControllers()];
  }

  /** The instances of `wrapper` that can be set up now (none for a request-scoped provider). */
  private instancesOf(wrapper: InstanceWrapper): object[] {
    const { instance } = wrapper;
    if (typeof instance !== 'object' || instance === null) return [];
    if (wrapper.isTransient) {
      return wrapper
        .getStaticTransientInstances()
        .map((perContext) => perContext?.instance as unknown)
        .filter((one): one is object => typeof one === 'object' && one !== null);
    }
    if (!wrapper.isDependencyTreeStatic()) {
      if (this.methodsOf(instance).length > 0 && !this.warned) {
        this.warned = true;
        this.connection.options.logger.warn(`${wrapper.name ?? 'a provider'} is request-scoped: its @DistributedLock / @LeaderOnly methods are not supported and will fail`);
      }
      return [];
    }
    return [instance];
  }

  /** The decorated methods of `instance`'s class, with what each needs. */
  private methodsOf(instance: object): HikariMethod[] {
    const prototype = Object.getPrototypeOf(instance) as Record<string, unknown> | null;
    if (prototype === null) return [];
    const found: HikariMethod[] = [];
    for (const name of this.scanner.getAllMethodNames(prototype)) {
      const methods = this.reflector.get<HikariMethod[] | undefined>(HIKARI_METHODS_METADATA, prototype[name] as Function);
      if (methods !== undefined) found.push(...methods);
    }
    return found;
  }

  private armInstance(instance: object): void {
    if (isArmed(instance)) return;
    const methods = this.methodsOf(instance);
    if (methods.length === 0) return;
    for (const method of methods) {
      if (method.kind === 'leader') this.elections.add(method.election);
      arm(instance, method, method.kind === 'lock' ? this.locks.runner(method) : this.leaderRunner(method));
    }
    this.armed.add(instance);
  }

  /** Runs the method when this application leads `method.election`; skips it (undefined) otherwise. */
  private leaderRunner(method: LeaderMethod): Runner {
    return (original, instance, args) => {
      if (this.election.isLeader(method.election)) return original.apply(instance, args);
      return isAsyncFunction(original) ? Promise.resolve(undefined) : undefined;
    };
  }
}
