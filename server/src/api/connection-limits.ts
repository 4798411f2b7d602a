/**
 * Bounds on what one client connection (or one client address) can make a node hold, besides the
 * protocol's own (libs/protocol/src/limits.ts), and the names under which every limit that trips is
 * counted (metric `hikari_client_limit_exceeded_total{limit}`).
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';

/**
 * Client connections one node accepts from one address by default (`--connections-per-address`).
 * ZooKeeper's maxClientCnxns in spirit: one host cannot take all of a node's connections. A load
 * generator opening more (the sessions benchmark) raises it.
 */
export const CONNECTIONS_PER_ADDRESS_MAX_DEFAULT = 1024;

/** A connection must complete `hello` (authentication included) within this, or it is closed. */
export const HELLO_TIMEOUT_MS = 10_000;

/** A TLS handshake on the client port must complete within this. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** The limit names counted in metrics. */
export type LimitName =
  | 'connections'
  | 'connections per address'
  | 'frame bytes'
  | 'malformed frame'
  | 'in-flight requests'
  | 'in-flight bytes'
  | 'unread response bytes'
  | 'hello timeout'
  | string;

/** The refusal sent on a connection that is over a connection limit, just before it is closed. */
export function tooManyConnections(what: 'connections' | 'connections per address', limit: number): HikariError {
  return new HikariError(ErrorCode.TOO_MANY_CONNECTIONS, { what, limit });
}

/**
 * The limit a request's error reports, as a metric label, or null when the error is not about a
 * limit. Labels are drawn from a fixed set: field names lose their indexes (`ops[3].data` →
 * `ops[].data`) and names or paths quoted in the error are cut off.
 */
export function limitOf(error: HikariError): string | null {
  switch (error.code) {
    case ErrorCode.TOO_LARGE: {
      const what = typeof error.details.what === 'string' ? error.details.what : 'unknown';
      if (what.startsWith('the queue of lock ')) return 'lock waiters per name';
      if (what.startsWith('children of ')) return 'children per node';
      return what.replace(/\[\d+\]/g, '[]').slice(0, 64);
    }
    case ErrorCode.TOO_MANY_REQUESTS:
      return 'in-flight requests';
    case ErrorCode.INVALID_PATH:
      return typeof error.details.reason === 'string' && error.details.reason.includes('over the limit') ? 'path' : null;
    default:
      return null;
  }
}
