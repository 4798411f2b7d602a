/**
 * `client.discovery`: service discovery on ephemeral nodes. An instance registers itself as the
 * node `/services/<service>/<id>` owned by its client's session; callers list, watch and cache the
 * live instances, and pick one. A crashed instance drops out by itself when its session expires
 * (within the session timeout); no health-check agent is needed for that. See DISCOVERY.md.
 *
 * ```ts
 * const api = await client.discovery.register({ service: 'api', id: 'api-1', host: '10.0.0.5', port: 8080 });
 * await api.update({ status: 'maintenance' });
 * const live = await client.discovery.instances('api', { status: 'passing' });
 * const picked = await client.discovery.pick('api', { strategy: 'least-outstanding' });
 * picked?.release();
 * await api.deregister();
 * ```
 *
 * - Registration (instance-handle.ts): one live handle per service and id in a client; registering an
 *   id again replaces a stale record (an earlier run's, whose session has not expired yet). After a
 *   session expiry every handle writes its record again on the new session, by itself.
 * - Reads (reads.ts): `services()` and `instances()`, linearizable unless `stale`.
 * - Streams (service-watch.ts, service-cache.ts): `watch()` yields the full list at each change;
 *   `cache()` keeps it in memory.
 * - Balancing (picker.ts): `picker()` makes a picker over a cache of its own; `pick()` uses one
 *   shared picker per service (at most SHARED_PICKERS_MAX services), kept until the client closes;
 *   `reportFailure()` marks an instance down in it.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import type { Random } from '../endpoints';
import { TIMER_MS_MAX } from '../options';
import { resolveProbe } from './health-probe';
import { InstanceHandle, recordFor, RegisterOptions } from './instance-handle';
import { PickOptions, Picked, ReportFailureOptions, ServicePicker, ServicePickerOptions } from './picker';
import type { DiscoveryPort } from './port';
import { readInstances, readServices, RegistryReadOptions } from './reads';
import { byId, instancePath, matchesFilter, ServiceInstance, ServiceSummary } from './record';
import { InstanceQuery, queryFilter, ServiceCache, ServiceCacheOptions } from './service-cache';
import { ServiceWatch, ServiceWatchOptions } from './service-watch';
import { checkServiceName } from './validation';

/** Default longest wait for a cache's first list (`cache`, `picker`, `pick`). */
export const CACHE_WAIT_MS_DEFAULT = 10_000;

/** Services `pick()` keeps a shared picker (a cache, hence a watch) for. */
export const SHARED_PICKERS_MAX = 1_000;

export interface InstancesOptions extends RegistryReadOptions, InstanceQuery {}

export interface CacheOptions extends ServiceCacheOptions {
  /** Longest wait for the first list (ms): TIMEOUT after it (the cache is closed). Default 10,000. */
  waitMs?: number;
}

export interface PickerOptions extends CacheOptions, ServicePickerOptions {}

export interface DiscoveryPickOptions extends PickOptions {
  /** For the first pick of a service: longest wait for its instances (ms). Default 10,000. */
  waitMs?: number;
}

export class Discovery {
  /** Live handles by `service/id`; a handle leaves once its record is removed. */
  private readonly handles = new Map<string, InstanceHandle>();
  private readonly shared = new Map<string, Promise<ServicePicker>>();
  private readonly sharedReady = new Map<string, ServicePicker>();
  private isClosed = false;
  private readonly expired = (): void => {
    for (const handle of this.handles.values()) handle.sessionExpired();
  };

  /** Use `client.discovery`. */
  constructor(
    private readonly port: DiscoveryPort,
    private readonly random: Random = Math.random,
  ) {
    port.on('expired', this.expired);
  }

  /**
   * Registers an instance (see RegisterOptions) and resolves with its handle once the record is
   * written. `id` defaults to a random UUID. Throws INVALID_ARGUMENT / TOO_LARGE for bad options
   * (and when the client has no session), NODE_EXISTS when this client already has a live handle
   * for that service and id (use it, or deregister it first), CANCELLED once the client is closed,
   * or the write's failure (TIMEOUT: a record it may have written is removed in the background).
   */
  async register(options: RegisterOptions): Promise<InstanceHandle> {
    this.checkOpen();
    if (this.port.session === null) {
      throw HikariError.invalidArgument('session', 'registering needs a session, and this client was made with `session: false`');
    }
    const id = options?.id ?? randomUUID();
    const record = recordFor(options, id, Date.now());
    if (options.check !== undefined) resolveProbe(options.check, record.host, record.port); // fail before any write
    const key = `${record.service}/${record.id}`;
    for (let previous = this.handles.get(key); previous !== undefined; previous = this.handles.get(key)) {
      if (previous.state !== 'deregistered') {
        throw new HikariError(
          ErrorCode.NODE_EXISTS,
          { path: instancePath(record.service, record.id) },
          { message: `${instancePath(record.service, record.id)} is already registered by this client: update or deregister its handle` },
        );
      }
      await previous.finished(); // its removal must not delete the new record
      this.checkOpen();
    }
    const handle = new InstanceHandle(this.port, record, options.check, {
      finished: (done) => {
        if (this.handles.get(key) === done) this.handles.delete(key);
      },
      random: this.random,
    });
    this.handles.set(key, handle);
    try {
      await handle.start();
    } catch (error) {
      handle.deregister().catch(() => undefined); // the write may have applied: remove it (in the background)
      throw error;
    }
    return handle;
  }

  /** Services with at least one instance, with their counts, by name. Linearizable unless `stale`. */
  async services(options: RegistryReadOptions = {}): Promise<ServiceSummary[]> {
    this.checkOpen();
    return readServices(this.port, options);
  }

  /**
   * The live instances of `service` (filtered by `status` and `tags`), sorted by id. Linearizable
   * unless `stale` (each instance is read linearizably; the list is not one snapshot). Throws
   * INVALID_ARGUMENT for a bad name or filter.
   */
  async instances(service: string, options: InstancesOptions = {}): Promise<ServiceInstance[]> {
    this.checkOpen();
    checkServiceName(service);
    const { status, tags, ...read } = options;
    const filter = queryFilter({ status, tags });
    const found = await readInstances(this.port, service, read);
    return [...found.values()].filter((instance) => matchesFilter(instance, filter)).sort(byId);
  }

  /** The instance list of `service` as a stream (see service-watch.ts). Close it when done. */
  watch(service: string, options: ServiceWatchOptions = {}): ServiceWatch {
    this.checkOpen();
    return new ServiceWatch(this.port, service, options, this.random);
  }

  /**
   * A cache of `service`'s instances (see service-cache.ts), once its first list is in. Throws
   * TIMEOUT after `waitMs`, and what the watch was refused with. Close it when done.
   */
  async cache(service: string, options: CacheOptions = {}): Promise<ServiceCache> {
    this.checkOpen();
    const { waitMs = CACHE_WAIT_MS_DEFAULT, ...cacheOptions } = options;
    checkWaitMs(waitMs);
    const cache = new ServiceCache(this.port, service, cacheOptions, this.random);
    await firstList(cache, waitMs);
    return cache;
  }

  /** A picker over a cache of its own of `service`'s passing instances (see picker.ts). `close()` it when done. */
  async picker(service: string, options: PickerOptions = {}): Promise<ServicePicker> {
    const { downForMs, failuresBeforeDown, ...cacheOptions } = options;
    const pickerOptions = { downForMs, failuresBeforeDown };
    new ServicePicker(() => [], pickerOptions); // checks the options before anything is opened
    const cache = await this.cache(service, cacheOptions);
    return new ServicePicker(() => cache.instances({ status: 'passing' }), pickerOptions, { now: Date.now, random: this.random }, () => cache.close());
  }

  /**
   * A passing instance of `service` that is not down, chosen by `strategy`; null when there is none.
   * The first pick of a service opens its shared picker (waiting for the list, up to `waitMs`);
   * later ones answer from memory. Throws TOO_LARGE past SHARED_PICKERS_MAX services.
   */
  async pick(service: string, options: DiscoveryPickOptions = {}): Promise<Picked | null> {
    this.checkOpen();
    const { waitMs, ...pickOptions } = options;
    const ready = this.sharedReady.get(service);
    if (ready !== undefined) return ready.pick(pickOptions);
    let pending = this.shared.get(service);
    if (pending === undefined) {
      if (this.shared.size >= SHARED_PICKERS_MAX) throw HikariError.tooLarge('shared pickers', this.shared.size + 1, SHARED_PICKERS_MAX);
      pending = this.picker(service, { waitMs }).then(
        (picker) => {
          if (this.isClosed) picker.close();
          else this.sharedReady.set(service, picker);
          return picker;
        },
        (error: unknown) => {
          this.shared.delete(service);
          throw error;
        },
      );
      this.shared.set(service, pending);
    }
    const picker = await pending;
    this.checkOpen();
    return picker.pick(pickOptions);
  }

  /** Marks `instance` down in the shared picker of its service (see ServicePicker.reportFailure); nothing if `pick` never served that service. */
  reportFailure(instance: ServiceInstance, options: ReportFailureOptions = {}): void {
    if (typeof instance !== 'object' || instance === null) throw HikariError.invalidArgument('instance', 'must be an instance');
    this.sharedReady.get(instance.service)?.reportFailure(instance, options);
  }

  /** Internal (HikariClient.close): handles stop their upkeep (the session's end removes their records); shared pickers close. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.port.off('expired', this.expired);
    for (const handle of [...this.handles.values()]) handle.close();
    for (const picker of this.sharedReady.values()) picker.close();
    this.sharedReady.clear();
    this.shared.clear();
  }

  private checkOpen(): void {
    if (this.isClosed) throw new HikariError(ErrorCode.CANCELLED, { reason: 'the client was closed' }, { message: 'the client was closed' });
  }
}

function checkWaitMs(waitMs: number): void {
  if (!Number.isSafeInteger(waitMs) || waitMs < 1 || waitMs > TIMER_MS_MAX) {
    throw HikariError.invalidArgument('waitMs', `must be an integer in [1, ${TIMER_MS_MAX}]`);
  }
}

/** Waits for the cache's first list; closes it and throws on failure or after `waitMs`. */
async function firstList(cache: ServiceCache, waitMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HikariError(ErrorCode.TIMEOUT, { service: cache.service, waitMs }, { message: `no instance list of ${cache.service} within ${waitMs} ms` })),
      waitMs,
    );
  });
  try {
    await Promise.race([cache.ready, deadline]);
  } catch (error) {
    cache.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
