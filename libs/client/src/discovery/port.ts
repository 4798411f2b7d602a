/**
 * What discovery needs from the client: namespace calls, watches, the session and its events.
 * HikariClient provides all of it as it is; tests give an in-memory namespace instead.
 */
import type { ChildrenResult, CreateResult, ExistsResult, MultiResult, SetResult } from '@hikarikeeper/protocol';
import type {
  ChildrenOptions,
  CreateOptions,
  Data,
  MultiOpInput,
  NodeData,
  ReadOptions,
  VersionOptions,
  WatchOptions,
} from '../client';
import type { CallOptions } from '../dispatcher';
import type { ClientEventName, ClientListener } from '../events';
import type { SessionInfo } from '../session-keeper';
import type { Watch } from '../watch';

export interface DiscoveryPort {
  create(path: string, data: Data, options?: CreateOptions): Promise<CreateResult>;
  get(path: string, options?: ReadOptions): Promise<NodeData>;
  set(path: string, data: Data, options?: VersionOptions): Promise<SetResult>;
  delete(path: string, options?: VersionOptions): Promise<void>;
  exists(path: string, options?: ReadOptions): Promise<ExistsResult>;
  children(path: string, options?: ChildrenOptions): Promise<ChildrenResult>;
  multi(ops: readonly MultiOpInput[], options?: CallOptions): Promise<MultiResult>;
  watch(path: string, options?: WatchOptions): Watch;
  /** The session now; null when the client has no sessions. */
  readonly session: SessionInfo | null;
  on<E extends ClientEventName>(event: E, listener: ClientListener<E>): unknown;
  off<E extends ClientEventName>(event: E, listener: ClientListener<E>): unknown;
}
