/**
 * Client options: what a user may set, the defaults, and the bounds the SDK keeps. `resolveOptions`
 * turns the user's options into a complete, checked record once, so that the rest of the SDK never
 * handles `undefined` or a nonsensical value.
 */
import { randomUUID } from 'node:crypto';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { HikariError, ID_CHARS_MAX, SESSION_TIMEOUT_MS_MAX, SESSION_TIMEOUT_MS_MIN, TOKEN_PATTERN } from '@hikarikeeper/protocol';
import { Endpoint, parseEndpoint } from './endpoints';

/**
 * The server deduplicates writes by (client id, `seq`) and remembers the outcome of the last this-many
 * seqs of each client. (A protocol constant: it belongs in @hikarikeeper/protocol's limits.ts.)
 */
export const WRITE_DEDUP_WINDOW = 256;

/**
 * Most writes the SDK keeps outstanding (a seq issued, no final answer yet). Half the server's window:
 * a write retried after a connection loss is then always still remembered, however many later writes
 * were applied in between.
 */
export const WRITES_IN_FLIGHT_MAX = WRITE_DEDUP_WINDOW / 2;

/** Default bound of the queue of requests waiting to be sent (no connection, or the in-flight window is full). */
export const PENDING_REQUESTS_MAX_DEFAULT = 10_000;

/** Default deadline of one call, retries included. */
export const TIMEOUT_MS_DEFAULT = 10_000;

/** Default time allowed for one connection attempt: TCP connect plus the `hello` handshake. */
export const CONNECT_TIMEOUT_MS_DEFAULT = 3_000;

/** Backoff between connection attempts and between retries on the same connection. */
export const BACKOFF_INITIAL_MS_DEFAULT = 50;
export const BACKOFF_MAX_MS_DEFAULT = 2_000;

/** Default session timeout: the time a client may go silent (crash, pause, partition) before its session expires. */
export const SESSION_TIMEOUT_MS_DEFAULT = 10_000;

/** setTimeout fires at once for delays over a signed 32-bit integer; no deadline may be longer. */
export const TIMER_MS_MAX = 2 ** 31 - 1;

const ID_PATTERN = new RegExp(`^[A-Za-z0-9._:-]{1,${ID_CHARS_MAX}}$`);

export interface HikariClientOptions {
  /** Client addresses of the cluster's nodes, 'host:port' ('[::1]:7701' for IPv6); at least one. */
  endpoints: readonly string[];
  /**
   * Names this client to the servers, which deduplicate its writes by (client id, seq). Default: a
   * random UUID. The seq counter restarts at 1 with every HikariClient: never give two clients the same
   * id (at once, or one after another within the servers' memory), or one's writes may be answered
   * with the other's outcomes instead of being applied.
   */
  clientId?: string;
  /** The cluster id the nodes must have (CLUSTER_MISMATCH otherwise). Default: learnt from the first node, then pinned. */
  clusterId?: string;
  /** Default deadline of a call, retries included (ms). Default 10,000. */
  timeoutMs?: number;
  /** Time allowed for one connection attempt, TCP connect plus handshake (ms). Default 3,000. */
  connectTimeoutMs?: number;
  /** First backoff step (ms). Default 50. */
  backoffInitialMs?: number;
  /** Largest backoff step (ms). Default 2,000. */
  backoffMaxMs?: number;
  /** Most calls waiting to be sent; a call over it fails at once with TOO_MANY_REQUESTS. Default 10,000. */
  pendingRequestsMax?: number;
  /** Most writes outstanding at once, 1 to 128 (the default); later writes wait their turn. */
  writesInFlightMax?: number;
  /**
   * The client's session (see HikariClient): on by default, with a 10,000 ms timeout (1,000 to
   * 600,000; the server clamps it into its own range). `false`: no session, hence no ephemeral
   * nodes, no keepalive traffic, and a client that may stay on a follower (one-shot tools, load
   * generators).
   */
  session?: SessionOptions | false;
  /**
   * The credential for a cluster with authentication on: a token made by `hikari auth token create`
   * (`<id>.<secret>`), or the bootstrap admin token. Sent in the handshake of every connection; a
   * refused one fails `connect` with UNAUTHENTICATED. Without it, a client certificate (`tls.cert`)
   * may identify the client.
   */
  token?: string;
  /** Connect over TLS (the cluster runs with `--tls-*`): `{}` trusts the system's CAs, `ca` a cluster CA of its own. */
  tls?: ClientTlsOptions;
}

/** TLS settings of the SDK's connections. PEM as a string or Buffer. */
export interface ClientTlsOptions {
  /** The CA that signed the nodes' certificates (the cluster CA). Default: the system's trusted CAs. */
  ca?: string | Buffer;
  /** A client certificate and its key: the client's identity where the cluster binds certificate subjects to roles. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the node's certificate must carry. Default: the endpoint's host (an IP address is checked as such). */
  servername?: string;
}

export interface SessionOptions {
  /** Requested session timeout (ms). Default 10,000. */
  timeoutMs?: number;
}

/** Options with every default applied and every value checked. */
export interface ResolvedOptions {
  readonly endpoints: readonly Endpoint[];
  readonly clientId: string;
  readonly clusterId: string | undefined;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly backoff: BackoffOptions;
  readonly pendingRequestsMax: number;
  readonly writesInFlightMax: number;
  /** Null when sessions are off. */
  readonly session: { readonly timeoutMs: number } | null;
  readonly token: string | undefined;
  /** node:tls options of every connection; null for plain TCP. */
  readonly tls: TlsConnectionOptions | null;
}

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Throws INVALID_ARGUMENT naming the option at fault. */
export function resolveOptions(options: HikariClientOptions): ResolvedOptions {
  if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
    throw HikariError.invalidArgument('endpoints', "must list at least one 'host:port'");
  }
  const endpoints = options.endpoints.map((address, index) => parseEndpoint(address, `endpoints[${index}]`));
  const backoff = {
    initialMs: integerOption('backoffInitialMs', options.backoffInitialMs, BACKOFF_INITIAL_MS_DEFAULT, 1, TIMER_MS_MAX),
    maxMs: integerOption('backoffMaxMs', options.backoffMaxMs, BACKOFF_MAX_MS_DEFAULT, 1, TIMER_MS_MAX),
  };
  if (backoff.maxMs < backoff.initialMs) {
    throw HikariError.invalidArgument('backoffMaxMs', 'must be at least backoffInitialMs');
  }
  return {
    endpoints,
    clientId: idOption('clientId', options.clientId) ?? randomUUID(),
    clusterId: idOption('clusterId', options.clusterId),
    timeoutMs: timeoutOption('timeoutMs', options.timeoutMs, TIMEOUT_MS_DEFAULT),
    connectTimeoutMs: timeoutOption('connectTimeoutMs', options.connectTimeoutMs, CONNECT_TIMEOUT_MS_DEFAULT),
    backoff,
    pendingRequestsMax: integerOption(
      'pendingRequestsMax',
      options.pendingRequestsMax,
      PENDING_REQUESTS_MAX_DEFAULT,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    writesInFlightMax: integerOption(
      'writesInFlightMax',
      options.writesInFlightMax,
      WRITES_IN_FLIGHT_MAX,
      1,
      WRITES_IN_FLIGHT_MAX,
    ),
    session: sessionOption(options.session),
    token: tokenOption(options.token),
    tls: tlsOption(options.tls),
  };
}

export function tokenOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !TOKEN_PATTERN.test(value)) throw HikariError.invalidArgument('token', 'must be a token as `hikari auth token create` prints it');
  return value;
}

const TLS_FIELDS = ['ca', 'cert', 'key', 'servername'];

function tlsOption(value: ClientTlsOptions | undefined): TlsConnectionOptions | null {
  if (value === undefined) return null;
  if (typeof value !== 'object' || value === null) throw HikariError.invalidArgument('tls', 'must be { ca?, cert?, key?, servername? }');
  const unknown = Object.keys(value).find((key) => !TLS_FIELDS.includes(key));
  if (unknown !== undefined) throw HikariError.invalidArgument(`tls.${unknown}`, 'is not a known field');
  for (const key of ['ca', 'cert', 'key'] as const) {
    const v = value[key];
    if (v !== undefined && typeof v !== 'string' && !Buffer.isBuffer(v)) throw HikariError.invalidArgument(`tls.${key}`, 'must be PEM text or a Buffer');
  }
  if ((value.cert === undefined) !== (value.key === undefined)) throw HikariError.invalidArgument('tls.cert', 'cert and key go together');
  if (value.servername !== undefined && typeof value.servername !== 'string') throw HikariError.invalidArgument('tls.servername', 'must be a string');
  return { ...value, minVersion: 'TLSv1.2' };
}

function sessionOption(value: SessionOptions | false | undefined): { timeoutMs: number } | null {
  if (value === false) return null;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw HikariError.invalidArgument('session', 'must be false or { timeoutMs? }');
  }
  const timeoutMs = integerOption(
    'session.timeoutMs',
    value?.timeoutMs,
    SESSION_TIMEOUT_MS_DEFAULT,
    SESSION_TIMEOUT_MS_MIN,
    SESSION_TIMEOUT_MS_MAX,
  );
  return { timeoutMs };
}

/** A deadline in ms: an integer in [1, TIMER_MS_MAX]; `fallback` when undefined. */
export function timeoutOption(field: string, value: number | undefined, fallback: number): number {
  return integerOption(field, value, fallback, 1, TIMER_MS_MAX);
}

function integerOption(field: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw HikariError.invalidArgument(field, `must be an integer in [${min}, ${max}]`);
  }
  return value;
}

function idOption(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw HikariError.invalidArgument(field, `must be 1 to ${ID_CHARS_MAX} characters among A-Z a-z 0-9 . _ : -`);
  }
  return value;
}
