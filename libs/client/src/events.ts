/**
 * The events a client emits, by name, each with one payload object. New states extend the map and
 * payloads gain fields.
 *
 * Every connection on which calls flow is announced by exactly one `connected` or `reconnected`:
 * - `connected`: a new session is open (the first one resolves `connect`; later ones follow an
 *   `expired`). Without sessions: the first connection.
 * - `reconnected`: the same session is back, confirmed alive by the leader, on a new connection
 *   (after `suspended`). Without sessions: every later connection.
 * - `suspended`: the session's connection is gone; the session may still be alive. Stop acting as
 *   the owner of what it holds until `reconnected` (or `expired`).
 * - `expired`: the session is gone, and with it everything it owned (ephemeral nodes). The SDK
 *   opens a new session at once (`connected` follows, with the new id); re-create what the old one
 *   owned there.
 * - `disconnected`: one connection closed (also when the SDK itself leaves a node for the leader).
 *
 * There is deliberately no `error` event: Node's EventEmitter throws an unheard `error`, and nothing
 * the network does may crash the process. Failures reach users through rejected calls and through
 * the `error` field of `disconnected`.
 */
import { EventEmitter } from 'node:events';
import { EventKind, HikariError } from '@hikarikeeper/protocol';

export interface ConnectedEvent {
  /** The endpoint connected to ('host:port'). */
  endpoint: string;
  /** The Raft node id of that node. */
  nodeId: number;
  clusterId: string;
  /** The leader's client address as that node knew it at the handshake; null during an election. */
  leader: string | null;
  /** The session bound to this connection; null when sessions are off. */
  sessionId: string | null;
}

/** The same session (or, without sessions, the same client) on a new connection. */
export type ReconnectedEvent = ConnectedEvent;

export interface SuspendedEvent {
  sessionId: string;
  /** Why its connection closed (see DisconnectedEvent.error), or TIMEOUT when a keepalive went unanswered. */
  error: HikariError;
}

export interface ExpiredEvent {
  /** The session that is gone: its ephemeral nodes are deleted. */
  sessionId: string;
}

export interface DisconnectedEvent {
  /** The endpoint the connection was to. */
  endpoint: string;
  /**
   * Why it closed: CONNECTION_LOSS (the socket broke or the peer closed it; `cause` holds the socket
   * error), BAD_FRAME or TOO_LARGE (the node broke the protocol), NOT_LEADER / NO_LEADER /
   * UNAVAILABLE / SHUTTING_DOWN (the SDK left for another node), CANCELLED (`close()`).
   */
  error: HikariError;
  /** False once the client is closed; otherwise a new connection is being made. */
  reconnecting: boolean;
}

/** An event pushed by the server (watch fired, session state, lock granted). Kinds unknown to this SDK pass through. */
export interface ServerEvent {
  kind: EventKind;
  data: unknown;
}

export interface ClientEvents {
  /**
   * A new session is open on a connection (without sessions: the first connection is up); calls
   * flow. The first one resolves `HikariClient.connect` (before any listener can be attached).
   */
  connected: ConnectedEvent;
  /** The session (or, without sessions, the client) is back on a new connection. */
  reconnected: ReconnectedEvent;
  /** The session's connection is gone; the session may still be alive. */
  suspended: SuspendedEvent;
  /** The session expired; a new one is being opened (`connected` follows). */
  expired: ExpiredEvent;
  /** The connection is gone. Calls in flight are sent again on the next connection (see HikariClient). */
  disconnected: DisconnectedEvent;
  /** The server pushed an event on the current connection. */
  event: ServerEvent;
}

export type ClientEventName = keyof ClientEvents;
export type ClientListener<E extends ClientEventName> = (payload: ClientEvents[E]) => void;

/**
 * A typed emitter. A listener that throws does not disturb the SDK: the exception is rethrown on a
 * later tick, where it surfaces as an uncaught exception as it would from any Node emitter, while
 * the connection's state stays consistent.
 */
export class ClientEventEmitter {
  private readonly emitter = new EventEmitter();

  on<E extends ClientEventName>(event: E, listener: ClientListener<E>): void {
    this.emitter.on(event, listener);
  }

  once<E extends ClientEventName>(event: E, listener: ClientListener<E>): void {
    this.emitter.once(event, listener);
  }

  off<E extends ClientEventName>(event: E, listener: ClientListener<E>): void {
    this.emitter.off(event, listener);
  }

  emit<E extends ClientEventName>(event: E, payload: ClientEvents[E]): void {
    try {
      this.emitter.emit(event, payload);
    } catch (error) {
      process.nextTick(() => {
        throw error;
      });
    }
  }

  removeAllListeners(): void {
    this.emitter.removeAllListeners();
  }
}
