/**
 * HikariTestingModule: HikariModule over an in-process MemoryCluster (the SDK's stand-in for the
 * cluster: the same lock, election and discovery behaviour, checked by the contract suites that run
 * against both), for unit tests of an application's services without a cluster.
 *
 * ```ts
 * const moduleRef = await Test.createTestingModule({
 *   imports: [HikariTestingModule.forRoot({ registration: { service: 'orders', port: 3000 } })],
 *   providers: [OrdersService],
 * }).compile();
 * await moduleRef.init();
 * const testing = moduleRef.get(HikariTesting);
 * testing.expireSession(); // exercise the `expired` path: locks lost, leadership lost, registration written again
 * ```
 *
 * It provides what HikariModule provides (the client — a MemoryClient —, HikariLockService,
 * HikariElection, HikariDiscovery, HikariHealthIndicator), set up the same way (the explorer,
 * @DistributedLock, @LeaderOnly, registration), plus HikariTesting, the test's handle on the
 * cluster. Its options are HikariModule's without the connection ones (`endpoints`, `clusterId`,
 * `client`, `driver`, `redis`), plus `cluster`: give several applications of one test the same
 * MemoryCluster and they see each other as instances of a service do (locks exclude, one leads,
 * each finds the others). Without it, each application gets a cluster of its own.
 *
 * To swap it in for an application module's HikariModule, keep the dynamic module in a constant
 * (`export const hikari = HikariModule.forRoot(...)`) and override that:
 * `Test.createTestingModule({ imports: [AppModule] }).overrideModule(hikari).useModule(HikariTestingModule.forRoot())`
 * (Nest matches dynamic modules by identity).
 */
import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { MEMORY_ENDPOINT, MemoryClient, MemoryClientOptions, MemoryCluster } from '@hikarikeeper/client';
import { HikariConnection } from './connection';
import { HikariConfigError } from './errors';
import { HIKARI_EXPORTS, HIKARI_SERVICES } from './module-services';
import { HikariModuleOptions, resolveOptions, ResolvedHikariOptions } from './options';
import { HIKARI_CONNECTION, HIKARI_RESOLVED_OPTIONS } from './tokens';

/** Internal: the MemoryCluster of a HikariTestingModule. */
const HIKARI_MEMORY_CLUSTER = Symbol('HikariMemoryCluster');

export interface HikariTestingModuleOptions extends Omit<HikariModuleOptions, 'endpoints' | 'clusterId' | 'client' | 'driver' | 'redis'> {
  /** The in-process cluster to join. Default: a new one for this application. */
  cluster?: MemoryCluster;
  /** Make the module global, as HikariModule's `isGlobal`. */
  isGlobal?: boolean;
}

/** The test's handle on the in-process cluster of a HikariTestingModule. */
@Injectable()
export class HikariTesting implements OnApplicationShutdown {
  private readonly others: MemoryClient[] = [];

  constructor(
    @Inject(HIKARI_MEMORY_CLUSTER) readonly cluster: MemoryCluster,
    @Inject(HIKARI_CONNECTION) private readonly connection: HikariConnection,
  ) {}

  /** The application's client (what `@InjectHikari()` gives). */
  get client(): MemoryClient {
    return this.connection.client as MemoryClient;
  }

  /**
   * Expires the application's session, as the cluster does when it stays silent past its timeout:
   * its locks and leaderships are lost, its ephemeral nodes (its registration) deleted, `expired`
   * is emitted, and a new session opens at once (the module then stands again in its elections,
   * and writes its registration again, by itself). Returns the id of the session that expired.
   */
  expireSession(): string {
    const sessionId = this.client.session?.id;
    if (sessionId === undefined) throw new HikariConfigError('HikariTesting.expireSession: the application has no live session (it has shut down)');
    this.cluster.expireSession(sessionId);
    return sessionId;
  }

  /**
   * Another client of the same cluster, as another process would have (to hold a lock the
   * application waits for, register an instance it discovers, ...). Closed when the application shuts down.
   */
  async connect(options: MemoryClientOptions = {}): Promise<MemoryClient> {
    const client = await this.cluster.connect(options);
    this.others.push(client);
    return client;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.others.splice(0).map((client) => client.close()));
  }
}

@Module({})
export class HikariTestingModule {
  static forRoot(options: HikariTestingModuleOptions = {}): DynamicModule {
    return {
      module: HikariTestingModule,
      global: options.isGlobal === true,
      imports: [DiscoveryModule],
      providers: [
        { provide: HIKARI_RESOLVED_OPTIONS, useFactory: () => resolveTestingOptions(options) },
        { provide: HIKARI_MEMORY_CLUSTER, useFactory: () => options.cluster ?? new MemoryCluster() },
        {
          provide: HIKARI_CONNECTION,
          useFactory: async (resolved: ResolvedHikariOptions, cluster: MemoryCluster) => {
            const timeoutMs = resolved.client?.session === false ? undefined : resolved.client?.session?.timeoutMs;
            const client = await cluster.connect({ session: timeoutMs === undefined ? {} : { timeoutMs } });
            return HikariConnection.over(client, resolved);
          },
          inject: [HIKARI_RESOLVED_OPTIONS, HIKARI_MEMORY_CLUSTER],
        },
        ...HIKARI_SERVICES,
        HikariTesting,
      ],
      exports: [...HIKARI_EXPORTS, HikariTesting],
    };
  }
}

/** HikariModule's checks and defaults, with the memory cluster in place of the connection options. */
function resolveTestingOptions(options: HikariTestingModuleOptions): ResolvedHikariOptions {
  if (typeof options !== 'object' || options === null) throw new HikariConfigError('HikariTestingModule: the options must be an object');
  const { cluster, isGlobal: _global, ...rest } = options;
  if (cluster !== undefined && !(cluster instanceof MemoryCluster)) throw new HikariConfigError('HikariTestingModule: `cluster` must be a MemoryCluster');
  for (const key of ['endpoints', 'clusterId', 'client', 'driver', 'redis'] as const) {
    if (key in rest) throw new HikariConfigError(`HikariTestingModule: \`${key}\` is HikariModule's: the testing module connects to its in-process cluster`);
  }
  return resolveOptions({ ...rest, endpoints: [MEMORY_ENDPOINT] });
}
