/**
 * @hikarikeeper/nestjs: HikariKeeper for NestJS — HikariModule (forRoot / forRootAsync), fenced
 * distributed locks on methods (@DistributedLock, currentFence), leader-only work (@LeaderOnly,
 * HikariElection), registration and discovery (HikariDiscovery), a Terminus health indicator
 * (HikariHealthIndicator), and HikariTestingModule for tests without a cluster. See the README.
 *
 * ```ts
 * @Module({ imports: [HikariModule.forRoot({ endpoints: ['127.0.0.1:7701'], registration: { service: 'orders' } })] })
 * class AppModule {}
 *
 * @Injectable()
 * class Orders {
 *   @DistributedLock('orders:{0}', { waitMs: 2_000 })
 *   async ship(orderId: string) {
 *     await this.db.markShipped(orderId, currentFence()); // the store refuses tokens older than the last it saw
 *   }
 *
 *   @LeaderOnly('billing')
 *   async bill() {} // runs in one instance of the service at a time
 * }
 * ```
 */
export { HikariModule } from './hikari.module';
export {
  HIKARI_MODULE_OPTIONS,
  type HikariModuleAsyncOptions,
  type HikariModuleRootOptions,
  type HikariOptionsFactory,
} from './module-definition';
export type { HikariLockDefaults, HikariModuleOptions, HikariRedisOptions, HikariRegistrationOptions, RedisClient } from './options';
export { HIKARI_CLIENT } from './tokens';
export { DistributedLock, InjectHikari, LeaderOnly, HIKARI_METHODS_METADATA, type DistributedLockOptions } from './decorators';
export type { LockKey } from './lock-key';
export { currentFence, currentLock, currentSignal } from './lock-context';
export { HikariLockService, type WithLockOptions } from './lock.service';
export { HikariElection, type CampaignOptions, type LeadershipChange } from './election.service';
export { HikariDiscovery } from './discovery.service';
export {
  HEALTH_TIMEOUT_MS_DEFAULT,
  HikariHealthIndicator,
  type HikariHealthDetails,
  type HikariHealthOptions,
  type HikariHealthResult,
} from './health.indicator';
export { HikariTesting, HikariTestingModule, type HikariTestingModuleOptions } from './testing.module';
/** The in-process cluster under HikariTestingModule (the SDK's). */
export { MemoryClient, MemoryCluster } from '@hikarikeeper/client';
export {
  HikariClusterRequiredError,
  HikariConfigError,
  HikariExceptionFilter,
  HIKARI_HTTP_OPTIONS,
  type HikariHttpOptions,
  HikariNotReadyError,
  LockTimeoutException,
  toHttpException,
} from './errors';
