/**
 * What HikariModule and HikariTestingModule both provide, over the HIKARI_CONNECTION each makes
 * (a HikariClient to the cluster; a MemoryClient of an in-process MemoryCluster): the same
 * services, so that an application's code cannot tell them apart.
 */
import type { Provider } from '@nestjs/common';
import type { HikariConnection } from './connection';
import { HikariDiscovery } from './discovery.service';
import { HikariElection } from './election.service';
import { HikariExplorer } from './explorer';
import { HikariHealthIndicator } from './health.indicator';
import { HikariLockService } from './lock.service';
import { HikariRegistrar } from './registration';
import { HIKARI_CLIENT, HIKARI_CONNECTION } from './tokens';

export const HIKARI_SERVICES: Provider[] = [
  { provide: HIKARI_CLIENT, useFactory: (connection: HikariConnection) => connection.client, inject: [HIKARI_CONNECTION] },
  HikariLockService,
  HikariElection,
  HikariRegistrar,
  HikariDiscovery,
  HikariExplorer,
  HikariHealthIndicator,
];

/** Injectable by the modules that import HikariModule (everywhere with `isGlobal`). */
export const HIKARI_EXPORTS = [HIKARI_CLIENT, HikariLockService, HikariElection, HikariDiscovery, HikariHealthIndicator];
