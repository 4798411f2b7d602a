/**
 * The events a client emits, by name, each with one payload object. New states extend the map
 * (sessions will add `suspended`, `reconnected` and `expired`) and payloads gain fields, without
 * breaking listeners written today.
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
   * A connection is up and its handshake done; calls flow. The first one resolves
   * `HikariClient.connect` (before any listener can be attached); listeners see every later one.
   */
  connected: ConnectedEvent;
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
