/**
 * Where to connect next and how long to wait first: parsing 'host:port', the pool of configured
 * endpoints (tried in rotation from a random start, so that clients spread over the nodes, each
 * with its own backoff), and the exponential backoff with jitter. Pure: time and randomness are
 * parameters.
 */
import { HikariError } from '@hikarikeeper/protocol';
import type { BackoffOptions } from './options';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  /** 'host:port' as given, the key by which endpoints are compared. */
  readonly address: string;
}

/** A number in [0, 1), as Math.random returns. */
export type Random = () => number;

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/;

/**
 * The endpoint for 'host:port' or '[ipv6]:port'. Throws INVALID_ARGUMENT naming `field`. Used for
 * the configured endpoints and for leader hints sent by servers.
 */
export function parseEndpoint(address: string, field = 'endpoint'): Endpoint {
  const match = typeof address === 'string' ? HOST_PORT.exec(address) : null;
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port < 1 || port > 65535) {
    throw HikariError.invalidArgument(field, "must be 'host:port' with a port in [1, 65535]");
  }
  return { host: match[1] ?? match[2]!, port, address };
}

/** The endpoint for `address`, or null when it is not a valid 'host:port'. */
export function tryParseEndpoint(address: unknown): Endpoint | null {
  if (typeof address !== 'string') return null;
  try {
    return parseEndpoint(address);
  } catch {
    return null;
  }
}

/**
 * The configured endpoints in round robin from a random start, each with its own backoff: an
 * endpoint that failed (no handshake, or a connection that closed) cools down for
 * backoffDelayMs(its consecutive failures) before it is tried again, and the rotation passes over
 * it meanwhile. A dead node therefore slows down nothing but attempts to itself. Addresses outside
 * the configured list (leaders named by NOT_LEADER) have a backoff too, but are not in rotation.
 */
export class EndpointPool {
  private position: number;
  private readonly health = new Map<string, { failures: number; notBeforeMs: number }>();

  constructor(
    private readonly endpoints: readonly Endpoint[],
    private readonly backoff: BackoffOptions,
    private readonly random: Random,
  ) {
    if (endpoints.length === 0) throw HikariError.invalidArgument('endpoints', 'must not be empty');
    this.position = Math.floor(random() * endpoints.length) % endpoints.length;
  }

  /**
   * The next endpoint in rotation that is not cooling down (wait 0), or, when all are, the one that
   * is ready first and the wait until then.
   */
  next(nowMs: number): { endpoint: Endpoint; delayMs: number } {
    let best = this.position;
    let bestReadyMs = Infinity;
    for (let step = 0; step < this.endpoints.length; step++) {
      const index = (this.position + step) % this.endpoints.length;
      const readyMs = this.readyAtMs(this.endpoints[index]!.address);
      if (readyMs <= nowMs) {
        best = index;
        bestReadyMs = readyMs;
        break;
      }
      if (readyMs < bestReadyMs) {
        best = index;
        bestReadyMs = readyMs;
      }
    }
    this.position = (best + 1) % this.endpoints.length;
    return { endpoint: this.endpoints[best]!, delayMs: Math.max(0, bestReadyMs - nowMs) };
  }

  /** True while `address` is cooling down after a failure. */
  isCoolingDown(address: string, nowMs: number): boolean {
    return this.readyAtMs(address) > nowMs;
  }

  /**
   * `address` failed. After a healthy spell (`wasHealthy`: it had answered) the count restarts, so
   * the node that just broke waits one short step while the others are tried.
   */
  failed(address: string, nowMs: number, wasHealthy = false): void {
    const failures = (wasHealthy ? 0 : (this.health.get(address)?.failures ?? 0)) + 1;
    this.health.set(address, { failures, notBeforeMs: nowMs + backoffDelayMs(failures, this.backoff, this.random) });
    // Leader hints from servers are the only unbounded source of addresses; forget the oldest.
    if (this.health.size > HEALTH_ENTRIES_MAX) this.health.delete(this.health.keys().next().value!);
  }

  /** `address` answered something definitive: no backoff for it any more. */
  succeeded(address: string): void {
    this.health.delete(address);
  }

  private readyAtMs(address: string): number {
    return this.health.get(address)?.notBeforeMs ?? 0;
  }
}

/** Endpoints whose failures are remembered: every configured one, plus leader hints. */
const HEALTH_ENTRIES_MAX = 256;

/**
 * The wait before attempt number `failures` (1 after the first failure): a step that doubles from
 * `initialMs` up to `maxMs`, drawn uniformly from its upper half ("equal jitter"), so that clients
 * that failed together do not retry together, and no wait is ever zero. `failures` 0 waits nothing.
 */
export function backoffDelayMs(failures: number, options: BackoffOptions, random: Random): number {
  if (failures <= 0) return 0;
  // 2^30 already exceeds any maxMs a timer accepts; the cap keeps the power finite.
  const step = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(step / 2 + random() * (step / 2));
}
