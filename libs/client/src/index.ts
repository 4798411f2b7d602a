/**
 * @hikarikeeper/client: the TypeScript SDK for HikariKeeper.
 *
 * ```ts
 * const client = await HikariClient.connect({ endpoints: ['127.0.0.1:7701', '127.0.0.1:7702'] });
 * const { stat } = await client.create('/app/config', 'v1');
 * await client.set('/app/config', 'v2', { version: stat.version });
 * await client.close();
 * ```
 *
 * Everything a caller needs is exported here, the protocol's error catalogue and types included.
 */
export {
  HikariClient,
  type ChildrenOptions,
  type CreateOptions,
  type Data,
  type ListChildrenOptions,
  type MultiOpInput,
  type NodeData,
  type ReadOptions,
  type VersionOptions,
} from './client';
export type { CallOptions } from './dispatcher';
export type {
  ClientEventName,
  ClientEvents,
  ClientListener,
  ConnectedEvent,
  DisconnectedEvent,
  ServerEvent,
} from './events';
export {
  BACKOFF_INITIAL_MS_DEFAULT,
  BACKOFF_MAX_MS_DEFAULT,
  CONNECT_TIMEOUT_MS_DEFAULT,
  PENDING_REQUESTS_MAX_DEFAULT,
  TIMEOUT_MS_DEFAULT,
  WRITES_IN_FLIGHT_MAX,
  type HikariClientOptions,
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
} from '@hikarikeeper/protocol';
