/**
 * Connection-level operations: `hello` (the handshake, first request on every connection) and
 * `ping` (keeps the session alive while the client is idle).
 */
import { ArgReader } from '../args';
import { ErrorCode, HikariError } from '../errors';
import { isPlainObject } from '../json';
import { ID_CHARS_MAX, PROTOCOL_VERSION, SESSION_TIMEOUT_MS_MAX, SESSION_TIMEOUT_MS_MIN, TOKEN_CHARS_MAX } from '../limits';

/** Client, session and cluster ids: opaque printable tokens. */
const ID_PATTERN = new RegExp(`^[A-Za-z0-9._:-]{1,${ID_CHARS_MAX}}$`);
const ID_DESCRIPTION = `1 to ${ID_CHARS_MAX} characters among A-Z a-z 0-9 . _ : -`;

/** Credential tokens: printable characters of base64 and base64url, and the separators `.` `_` `-` `~`. */
export const TOKEN_PATTERN = new RegExp(`^[A-Za-z0-9._~+/=-]{1,${TOKEN_CHARS_MAX}}$`);
const TOKEN_DESCRIPTION = `1 to ${TOKEN_CHARS_MAX} characters among A-Z a-z 0-9 . _ ~ + / = -`;

export interface HelloArgs {
  /** The protocol version the client speaks; a node that does not speak it answers UNSUPPORTED_PROTOCOL. */
  protocol: typeof PROTOCOL_VERSION;
  /**
   * The client id an earlier `hello` returned. Writes are deduplicated by (client id, `seq`), so a
   * client that reconnects keeps its id for a write retried on the new connection to apply once.
   */
  clientId?: string;
  /** The session to resume after a reconnect; absent to start a new session. */
  sessionId?: string;
  /** The session timeout the client asks for; the server clamps it into its configured range. */
  sessionTimeoutMs?: number;
  /** The cluster the client expects; a node of another cluster answers CLUSTER_MISMATCH. */
  clusterId?: string;
  /**
   * The client's credential when the cluster has authentication on: a token (`<id>.<secret>`, made
   * with `hikari auth token create`) or the bootstrap admin token. A bad one is UNAUTHENTICATED. A
   * client certificate (TLS) may stand in for it. Ignored by a node with authentication off.
   */
  token?: string;
}

export interface HelloResult {
  protocol: typeof PROTOCOL_VERSION;
  clusterId: string;
  /** The Raft node id of the node that answered. */
  nodeId: number;
  /** The id to tag writes with (the one given, or a new one). */
  clientId: string;
  /** The session of this connection (resumed or new). It is unguessable: it is the session's credential. */
  sessionId: string;
  /** The negotiated session timeout. */
  sessionTimeoutMs: number;
  /** The leader's client address ('host:port'), or null during an election. */
  leader: string | null;
  /** The limits this node enforces, so that the SDK refuses locally what the node would refuse. */
  limits: {
    frameBytesMax: number;
    dataBytesMax: number;
    inFlightRequestsMax: number;
    /**
     * How long the cluster remembers a client's write outcomes after its last write (its client
     * retention). A write sent again long after it was first sent might find its outcome forgotten
     * and apply twice: the SDK gives such a write up (TIMEOUT, outcome unknown) past half of this.
     * Absent from nodes that do not say it.
     */
    writeRetentionMs?: number;
  };
  /**
   * Who the node takes this connection for when authentication is on: `token:<id>`, `cert:<subject>`
   * or `admin` (the bootstrap credential); absent when authentication is off.
   */
  principal?: string;
}

export type PingArgs = Record<string, never>;
export type PingResult = Record<string, never>;

export function validateHello(args: unknown): HelloArgs {
  // The version is checked first: a newer client may send fields this node does not know, and it
  // should be told UNSUPPORTED_PROTOCOL rather than "unknown field".
  const requested = isPlainObject(args) ? args.protocol : undefined;
  if (Number.isSafeInteger(requested) && requested !== PROTOCOL_VERSION) {
    throw new HikariError(ErrorCode.UNSUPPORTED_PROTOCOL, {
      requested: requested as number,
      supported: PROTOCOL_VERSION,
    });
  }
  const r = ArgReader.of(args, ['protocol', 'clientId', 'sessionId', 'sessionTimeoutMs', 'clusterId', 'token']);
  const id = (key: string): string => r.token(key, ID_PATTERN, ID_DESCRIPTION);
  return {
    protocol: r.integer('protocol', PROTOCOL_VERSION, PROTOCOL_VERSION) as typeof PROTOCOL_VERSION,
    clientId: r.optional('clientId', id),
    sessionId: r.optional('sessionId', id),
    sessionTimeoutMs: r.optional('sessionTimeoutMs', (key) =>
      r.integer(key, SESSION_TIMEOUT_MS_MIN, SESSION_TIMEOUT_MS_MAX),
    ),
    clusterId: r.optional('clusterId', id),
    token: r.optional('token', (key) => r.token(key, TOKEN_PATTERN, TOKEN_DESCRIPTION)),
  };
}

export function validatePing(args: unknown): PingArgs {
  ArgReader.of(args, []);
  return {};
}
