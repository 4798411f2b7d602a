/**
 * HikariDiscovery: service discovery for the application (the SDK's `client.discovery`), and this
 * application's own registration (the module's `registration` option; see registration.ts).
 *
 * ```ts
 * constructor(private readonly discovery: HikariDiscovery) {}
 * const picked = await this.discovery.pick('billing');          // a passing instance, or null
 * if (picked) try { await call(picked.instance.address) } finally { picked.release() }
 * this.discovery.watch('billing').subscribe(({ instances }) => this.update(instances));
 * ```
 *
 * Every method needs the cluster (HikariClusterRequiredError with driver 'redis' and no endpoints).
 */
import { Inject, Injectable } from '@nestjs/common';
import { Observable } from 'rxjs';
import type {
  DiscoveryPickOptions,
  InstanceHandle,
  InstancesOptions,
  Picked,
  RegistryReadOptions,
  ReportFailureOptions,
  ServiceInstance,
  ServiceSummary,
  ServiceUpdate,
  ServiceWatchOptions,
} from '@hikarikeeper/client';
import type { HikariConnection } from './connection';
import { HikariRegistrar } from './registration';
import { HIKARI_CONNECTION } from './tokens';

@Injectable()
export class HikariDiscovery {
  constructor(
    @Inject(HIKARI_CONNECTION) private readonly connection: HikariConnection,
    private readonly registrar: HikariRegistrar,
  ) {}

  /** The live instances of `service` (filtered by `status` and `tags`), sorted by id; linearizable unless `stale`. */
  instances(service: string, options: InstancesOptions = {}): Promise<ServiceInstance[]> {
    return this.discovery().instances(service, options);
  }

  /** Services with at least one instance, with their counts. */
  services(options: RegistryReadOptions = {}): Promise<ServiceSummary[]> {
    return this.discovery().services(options);
  }

  /**
   * A passing instance of `service` that is not down, chosen by `strategy` (default round-robin);
   * null when there is none. `release()` the pick once its request is done ('least-outstanding').
   */
  pick(service: string, options: DiscoveryPickOptions = {}): Promise<Picked | null> {
    return this.discovery().pick(service, options);
  }

  /** Marks `instance` down for the picks of its service (see the SDK's ServicePicker.reportFailure). */
  reportFailure(instance: ServiceInstance, options: ReportFailureOptions = {}): void {
    this.discovery().reportFailure(instance, options);
  }

  /**
   * The instance list of `service`: the full list at subscription, then at each change (see the
   * SDK's ServiceWatch). Errors when the watch is refused for good; completes when the client
   * closes. Each subscription has a watch of its own, closed when it unsubscribes.
   */
  watch(service: string, options: Omit<ServiceWatchOptions, 'signal'> = {}): Observable<ServiceUpdate> {
    return new Observable<ServiceUpdate>((subscriber) => {
      const watch = this.discovery().watch(service, options);
      watch.on('update', (update) => subscriber.next(update));
      watch.on('close', (error) => (error === null ? subscriber.complete() : subscriber.error(error)));
      return () => watch.close();
    });
  }

  /** This application's registration once it is registered; null before, or without `registration`. */
  get registration(): InstanceHandle | null {
    return this.registrar.handle;
  }

  /**
   * Resolves with this application's registration once it is registered; rejects without a
   * `registration` option, if it is refused (a bad option), or if the application shuts down first.
   */
  registered(): Promise<InstanceHandle> {
    return this.registrar.registered();
  }

  private discovery() {
    return this.connection.requireClient('Service discovery').discovery;
  }
}
