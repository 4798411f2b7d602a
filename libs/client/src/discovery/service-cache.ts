/**
 * A service's instances kept in memory, always up to date from a ServiceWatch (see
 * service-watch.ts): `instances()` answers synchronously, from the latest list. It survives
 * reconnects (the watch resumes where it was, with nothing lost), and while the cluster cannot be
 * read it keeps the last list it had. If the watch is refused for good after the first list (say,
 * the node restarted and the client holds too many watches), a new one is opened after a backoff.
 *
 * `ready` resolves with the first list; it rejects if the first watch fails or the cache is closed
 * before. The cache ends when `close()` is called or the client closes.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { backoffDelayMs, Random } from '../endpoints';
import type { DiscoveryPort } from './port';
import { InstanceFilter, matchesFilter, ServiceInstance } from './record';
import { ServiceRetryingEvent, ServiceUpdate, ServiceWatch, ServiceWatchOptions } from './service-watch';
import { checkStatusFilter, checkTags, ServiceStatus } from './validation';
import { TypedEmitter } from '../typed-emitter';

/** Backoff before a failed watch is opened again. */
export const CACHE_REOPEN_BACKOFF = { initialMs: 1_000, maxMs: 30_000 } as const;

export type ServiceCacheOptions = Omit<ServiceWatchOptions, 'signal'>;

/** What to list: every instance by default. */
export interface InstanceQuery {
  /** Only these statuses (one, or a list). */
  status?: ServiceStatus | readonly ServiceStatus[];
  /** Only instances carrying every one of these tags. */
  tags?: readonly string[];
}

export interface ServiceCacheEvents {
  /** The list changed. */
  change: ServiceUpdate;
  /** Reading failed (the watch's round of reads, or the watch itself, which is opened again); it goes again after `delayMs`. */
  retrying: ServiceRetryingEvent;
  /** The cache ended (`close()`, the client closed, or the first watch failed: `error`). */
  close: HikariError | null;
}

export type ServiceCacheEventName = keyof ServiceCacheEvents;

/** A query, checked and ready to filter with (INVALID_ARGUMENT naming the field). */
export function queryFilter(query: InstanceQuery | undefined): InstanceFilter {
  if (query === undefined) return {};
  if (typeof query !== 'object' || query === null) throw HikariError.invalidArgument('query', 'must be an object');
  return {
    statuses: query.status === undefined ? undefined : new Set(checkStatusFilter(query.status)),
    tags: query.tags === undefined ? undefined : checkTags(query.tags),
  };
}

export class ServiceCache extends TypedEmitter<ServiceCacheEvents> {
  readonly service: string;
  /** Resolves once the first list is in. */
  readonly ready: Promise<void>;
  private watch: ServiceWatch;
  private latest: ServiceUpdate | null = null;
  /** `passing` instances of `latest`, computed once per list (what pickers ask for on every pick). */
  private passing: readonly ServiceInstance[] = [];
  private isClosed = false;
  private reopenTimer: NodeJS.Timeout | null = null;
  private reopenFailures = 0;
  private settleReady!: { resolve(): void; reject(error: HikariError): void };

  /** Use `client.discovery.cache`. Throws INVALID_ARGUMENT for a bad name or option. */
  constructor(
    private readonly port: DiscoveryPort,
    service: string,
    private readonly options: ServiceCacheOptions = {},
    private readonly random: Random = Math.random,
  ) {
    super();
    this.ready = new Promise<void>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => undefined);
    this.watch = this.open(service);
    this.service = this.watch.service;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The log index the list reflects; 0 before the first list. */
  get index(): number {
    return this.latest?.index ?? 0;
  }

  /** The latest list with its index; null before the first. */
  get current(): ServiceUpdate | null {
    return this.latest;
  }

  /**
   * The instances now (none before `ready`), sorted by id; filtered by `query`. Throws
   * INVALID_ARGUMENT for a bad query.
   */
  instances(query?: InstanceQuery): readonly ServiceInstance[] {
    if (query === undefined) return this.latest?.instances ?? [];
    if (query.status === 'passing' && query.tags === undefined) return this.passing;
    const filter = queryFilter(query);
    return (this.latest?.instances ?? []).filter((instance) => matchesFilter(instance, filter));
  }




  /** Stops following the service; the last list stays readable. Idempotent. */
  close(): void {
    this.finish(null);
  }

  private open(service: string): ServiceWatch {
    const watch = new ServiceWatch(this.port, service, this.options, this.random);
    watch.on('update', (update) => {
      this.reopenFailures = 0;
      this.latest = update;
      this.passing = Object.freeze(update.instances.filter((instance) => instance.status === 'passing'));
      this.settleReady.resolve();
      this.emit('change', update);
    });
    watch.on('retrying', (event) => this.emit('retrying', event));
    watch.on('close', (error) => this.watchClosed(watch, error));
    return watch;
  }

  private watchClosed(watch: ServiceWatch, error: HikariError | null): void {
    if (this.isClosed || watch !== this.watch) return;
    // Closed without an error: the client closed. Failed before the first list: the caller hears it.
    if (error === null || this.latest === null) return this.finish(error);
    const delayMs = backoffDelayMs(++this.reopenFailures, CACHE_REOPEN_BACKOFF, this.random);
    this.emit('retrying', { error, attempt: this.reopenFailures, delayMs });
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      if (this.isClosed) return;
      try {
        this.watch = this.open(this.service);
      } catch (failure) {
        this.finish(failure instanceof HikariError ? failure : new HikariError(ErrorCode.INTERNAL, { reason: String(failure) }));
      }
    }, delayMs);
  }

  private finish(error: HikariError | null): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.reopenTimer !== null) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    this.watch.close();
    this.settleReady.reject(error ?? new HikariError(ErrorCode.CANCELLED, { reason: 'the service cache was closed' }));
    this.emit('close', error);
  }

}
