/**
 * HikariModule: HikariKeeper for a Nest application.
 *
 * ```ts
 * @Module({
 *   imports: [
 *     HikariModule.forRoot({
 *       endpoints: ['10.0.0.1:7701', '10.0.0.2:7701', '10.0.0.3:7701'],
 *       registration: { service: 'orders' },
 *       locks: { waitMs: 5_000 },
 *       isGlobal: true,
 *     }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 *
 * Its life, in the application's:
 * - Providers created: the options are checked (options.ts) and the client connects, a session open
 *   (connection.ts); a start that cannot reach the cluster fails with the client's error.
 * - `onModuleInit`: the @DistributedLock and @LeaderOnly methods are set up (explorer.ts).
 * - `onApplicationBootstrap`: the @LeaderOnly elections are campaigned for; the application registers
 *   (registration.ts), at once or as soon as its HTTP server listens.
 * - `beforeApplicationShutdown`: deregistered, elections resigned.
 * - The HTTP server closes (Nest's `dispose`).
 * - `onApplicationShutdown`: the client closes, ending the session: whatever it still held (locks of
 *   calls under way, ephemeral nodes) is released at once. Later calls of decorated methods fail
 *   with HikariNotReadyError.
 * `app.close()` runs the shutdown hooks; `app.enableShutdownHooks()` runs them on SIGTERM as well.
 *
 * Nest starts modules from the deepest and stops them from the root: the hooks of the modules that
 * import HikariModule run after its start hooks and before its shutdown hooks, so their own
 * shutdown hooks can still take locks. A module deeper than HikariModule starts before it and stops
 * after it; `isGlobal: true` puts HikariModule first and last whatever the imports.
 *
 * Exported: the client (`@InjectHikari()`), HikariLockService, HikariElection, HikariDiscovery,
 * HikariHealthIndicator. HikariTestingModule (testing.module.ts) provides the same, over an
 * in-process MemoryCluster.
 */
import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { HikariConnection } from './connection';
import { HIKARI_MODULE_OPTIONS, HikariConfigurableModule } from './module-definition';
import { HIKARI_EXPORTS, HIKARI_SERVICES } from './module-services';
import { HikariModuleOptions, resolveOptions, ResolvedHikariOptions } from './options';
import { HIKARI_CONNECTION, HIKARI_RESOLVED_OPTIONS } from './tokens';

@Module({
  imports: [DiscoveryModule],
  providers: [
    { provide: HIKARI_RESOLVED_OPTIONS, useFactory: (options: HikariModuleOptions) => resolveOptions(options), inject: [HIKARI_MODULE_OPTIONS] },
    { provide: HIKARI_CONNECTION, useFactory: (options: ResolvedHikariOptions) => HikariConnection.open(options), inject: [HIKARI_RESOLVED_OPTIONS] },
    ...HIKARI_SERVICES,
  ],
  exports: HIKARI_EXPORTS,
})
export class HikariModule extends HikariConfigurableModule {}
