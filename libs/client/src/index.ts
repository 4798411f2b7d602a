/**
 * @hikarikeeper/client: the TypeScript SDK for HikariKeeper.
 *
 * ```ts
 * const client = await HikariClient.connect({ endpoints: ['127.0.0.1:7701', '127.0.0.1:7702'] });
 * const { stat } = await client.create('/app/config', 'v1');
 * await client.set('/app/config', 'v2', { version: stat.version });
 * await client.create('/app/workers/w-', 'me', { mode: 'ephemeral_sequential' }); // gone with the session
 * client.on('expired', () => {}); // the session is gone, and its ephemeral nodes: re-create them
 * const watch = client.watch('/app/config');
 * watch.on('event', (change) => console.log(change.type, change.index));
 * watch.close();
 * await client.withLock('jobs', async (grant) => {
 *   await client.set('/app/jobs', 'mine', { fence: grant }); // refused if another holder came since
 * });
 * await client.discovery.register({ service: 'api', host: '10.0.0.5', port: 8080 }); // gone with the session
 * const picked = await client.discovery.pick('api'); // a passing instance, or null
 * await client.close();
 * ```
 *
 * Everything a caller needs is exported here, the protocol's error catalogue and types included.
 */
export {
  HikariClient,
  SESSION_CLOSE_WAIT_MS_MAX,
  type ChildrenOptions,
  type CreateOptions,
  type Data,
  type Fence,
  type FenceOptions,
  type ListChildrenOptions,
  type MultiOpInput,
  type NodeData,
  type ReadOptions,
  type VersionOptions,
  type WatchOptions,
} from './client';
export type { CallOptions } from './dispatcher';
export type {
  ClientEventName,
  ClientEvents,
  ClientListener,
  ConnectedEvent,
  DisconnectedEvent,
  ExpiredEvent,
  ReconnectedEvent,
  ServerEvent,
  SuspendedEvent,
} from './events';
export { KEEPALIVES_PER_TIMEOUT, type SessionInfo, type SessionState } from './session-keeper';
export {
  Watch,
  WATCH_BUFFERED_ITEMS_MAX,
  type WatchEvent,
  type WatchEventName,
  type WatchEvents,
  type WatchItem,
  type WatchResync,
} from './watch';
export { WATCHES_MAX } from './watch-registry';
export { DistributedLock, withLock, assertFence } from './locks/lock';
export type { AcquireOptions, LockDriver, LockGrant, LockMode } from './locks/types';
export { RedisLockDriver, type RedisAcquireOptions, type RedisLockDriverOptions, type RedisLockGrant } from './locks/redis-driver';
export { ClusterLockDriver, LOCK_WAIT_CHUNK_MS, type ClusterLockGrant, type LockInfoOptions } from './locks/cluster-driver';
export {
  Election,
  ELECTION_LOCK_PREFIX,
  type CampaignOptions,
  type ElectedEvent,
  type ElectionEventName,
  type ElectionEvents,
  type LeaderInfo,
  type LostEvent,
  type ObserveOptions,
} from './locks/election';
export { Discovery, CACHE_WAIT_MS_DEFAULT, SHARED_PICKERS_MAX, type CacheOptions, type DiscoveryPickOptions, type InstancesOptions, type PickerOptions } from './discovery/discovery';
export {
  InstanceHandle,
  REGISTRATION_BACKOFF,
  type InstanceHandleEventName,
  type InstanceHandleEvents,
  type InstanceState,
  type InstanceUpdate,
  type RegisteredEvent,
  type RegisterOptions,
  type RetryingEvent,
  type StatusEvent,
} from './discovery/instance-handle';
export {
  PROBE_FAILURES_DEFAULT,
  PROBE_INTERVAL_MS_DEFAULT,
  PROBE_INTERVAL_MS_MAX,
  PROBE_INTERVAL_MS_MIN,
  PROBE_SUCCESSES_DEFAULT,
  PROBE_TIMEOUT_MS_DEFAULT,
  type HealthCheckOptions,
} from './discovery/health-probe';
export {
  formatAddress,
  instancePath,
  parseInstance,
  RECORD_FORMAT,
  servicePath,
  SERVICES_ROOT,
  type InstanceRecord,
  type ServiceInstance,
  type ServiceSummary,
} from './discovery/record';
export type { RegistryReadOptions } from './discovery/reads';
export {
  ServiceWatch,
  SERVICE_WATCH_DEBOUNCE_MS_DEFAULT,
  type ServiceRetryingEvent,
  type ServiceUpdate,
  type ServiceWatchEventName,
  type ServiceWatchEvents,
  type ServiceWatchOptions,
} from './discovery/service-watch';
export { ServiceCache, type InstanceQuery, type ServiceCacheEventName, type ServiceCacheEvents, type ServiceCacheOptions } from './discovery/service-cache';
export {
  DOWN_FOR_MS_DEFAULT,
  FAILURES_BEFORE_DOWN_DEFAULT,
  PICK_STRATEGIES,
  ServicePicker,
  type Picked,
  type PickOptions,
  type PickStrategy,
  type ReportFailureOptions,
  type ServicePickerOptions,
} from './discovery/picker';
export {
  HOST_CHARS_MAX,
  isServiceStatus,
  METADATA_BYTES_MAX,
  SERVICE_NAME_CHARS_MAX,
  SERVICE_NAME_PATTERN,
  SERVICE_STATUSES,
  serviceNameProblem,
  TAG_CHARS_MAX,
  TAGS_MAX,
  WEIGHT_DEFAULT,
  WEIGHT_MAX,
  WEIGHT_MIN,
  type ServiceMetadata,
  type ServiceStatus,
} from './discovery/validation';
export {
  BACKOFF_INITIAL_MS_DEFAULT,
  BACKOFF_MAX_MS_DEFAULT,
  CONNECT_TIMEOUT_MS_DEFAULT,
  PENDING_REQUESTS_MAX_DEFAULT,
  SESSION_TIMEOUT_MS_DEFAULT,
  TIMEOUT_MS_DEFAULT,
  WRITES_IN_FLIGHT_MAX,
  type ClientTlsOptions,
  type HikariClientOptions,
  type SessionOptions,
} from './options';

// The protocol's error catalogue, and the types and constants that appear in this API.
export {
  ANY_VERSION,
  CHILDREN_PAGE_DEFAULT,
  CHILDREN_PAGE_MAX,
  CREATE_MODES,
  DATA_BYTES_MAX_DEFAULT,
  ErrorCode,
  ERRORS,
  HikariError,
  MULTI_OPS_MAX,
  type CheckOp,
  type ChildrenResult,
  type CreateMode,
  type CreateResult,
  type DeleteOp,
  type ErrorDetails,
  type ErrorSpec,
  type EventKind,
  type ExistsResult,
  type MultiOp,
  type MultiOpResult,
  type MultiResult,
  type SetResult,
  type Stat,
  type SyncResult,
  type ChangeType,
  type WatchKind,
  type FenceOp,
  type LockHolderInfo,
  type LockInfoResult,
  type LockWaiterInfo,
  LOCK_HOLDERS_MAX,
  LOCK_MODES,
  LOCK_NAME_BYTES_MAX,
  LOCK_PERMITS_MAX,
  LOCK_VALUE_BYTES_MAX,
  LOCK_WAITERS_MAX,
  SESSION_TIMEOUT_MS_MAX,
  SESSION_TIMEOUT_MS_MIN,
  WATCH_KINDS,
} from '@hikarikeeper/protocol';
export { HikariClientApi, type NodeInfo } from './client-api';
export { MemoryCluster, MEMORY_CLUSTER_ID_DEFAULT, type MemoryClusterOptions } from './memory/memory-cluster';
export { MemoryClient, MEMORY_ENDPOINT, type MemoryClientOptions } from './memory/memory-client';
