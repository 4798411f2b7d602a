/**
 * An SDK-side health probe: the registering process checks its own service (an HTTP GET, or a TCP
 * connect) every `intervalMs`, and its registration follows the verdict (see InstanceHandle: the
 * instance turns `critical` while the probe fails, and back when it recovers). It is no substitute
 * for the session: a crashed process takes its registration with it without any probe; the probe
 * catches a process that is alive but cannot serve (a wedged HTTP server, a port not listening).
 *
 * The verdict changes after `failuresBeforeCritical` consecutive failures, or
 * `successesBeforePassing` consecutive successes; it is unknown (null) until then. One check runs at
 * a time, the first one at once; each has `timeoutMs`. Timers are unref'd: a probe never keeps the
 * process alive.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { HikariError } from '@hikarikeeper/protocol';
import { checkHost, checkPort } from './validation';

export const PROBE_INTERVAL_MS_DEFAULT = 10_000;
export const PROBE_INTERVAL_MS_MIN = 100;
export const PROBE_INTERVAL_MS_MAX = 3_600_000;
export const PROBE_TIMEOUT_MS_DEFAULT = 5_000;
export const PROBE_FAILURES_DEFAULT = 2;
export const PROBE_SUCCESSES_DEFAULT = 1;
/** Largest threshold of either kind. */
export const PROBE_THRESHOLD_MAX = 100;

export interface HealthCheckOptions {
  /** An http: or https: URL: the check passes when a GET is answered 2xx or 3xx within `timeoutMs`. */
  http?: string;
  /**
   * `'host:port'`, or `true` for the registered host and port: the check passes when a TCP
   * connection opens within `timeoutMs`.
   */
  tcp?: string | true;
  /** Time between the end of one check and the start of the next (ms). Default 10,000; 100 to 3,600,000. */
  intervalMs?: number;
  /** Longest a check may take (ms). Default min(5,000, intervalMs); at most `intervalMs`. */
  timeoutMs?: number;
  /** Consecutive failures before the instance turns `critical`. Default 2. */
  failuresBeforeCritical?: number;
  /** Consecutive successes before it is `passing` again. Default 1. */
  successesBeforePassing?: number;
}

/** A check, resolved: what to probe and when. */
export interface ProbeSpec {
  readonly target: { readonly kind: 'http'; readonly url: URL } | { readonly kind: 'tcp'; readonly host: string; readonly port: number };
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly failuresBeforeCritical: number;
  readonly successesBeforePassing: number;
}

/** One check's outcome: null when it passed, what went wrong otherwise. */
export type CheckFn = (spec: ProbeSpec) => Promise<string | null>;

/** Checks `options` (INVALID_ARGUMENT naming the field under `check`); `host`/`port` are the registration's. */
export function resolveProbe(options: HealthCheckOptions, host: string, port: number): ProbeSpec {
  if (typeof options !== 'object' || options === null) throw HikariError.invalidArgument('check', 'must be an object');
  const { http, tcp } = options;
  if ((http === undefined) === (tcp === undefined)) throw HikariError.invalidArgument('check', 'must have exactly one of http and tcp');
  let target: ProbeSpec['target'];
  if (http !== undefined) {
    let url: URL | null = null;
    try {
      url = typeof http === 'string' ? new URL(http) : null;
    } catch {
      url = null;
    }
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw HikariError.invalidArgument('check.http', 'must be an http: or https: URL');
    }
    target = { kind: 'http', url };
  } else if (tcp === true) {
    target = { kind: 'tcp', host, port };
  } else {
    const match = typeof tcp === 'string' ? /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(tcp) : null;
    if (match === null) throw HikariError.invalidArgument('check.tcp', "must be 'host:port' or true");
    target = { kind: 'tcp', host: checkHost(match[1] ?? match[2], 'check.tcp'), port: checkPort(Number(match[3]), 'check.tcp') };
  }
  const intervalMs = integer('check.intervalMs', options.intervalMs, PROBE_INTERVAL_MS_DEFAULT, PROBE_INTERVAL_MS_MIN, PROBE_INTERVAL_MS_MAX);
  return {
    target,
    intervalMs,
    timeoutMs: integer('check.timeoutMs', options.timeoutMs, Math.min(PROBE_TIMEOUT_MS_DEFAULT, intervalMs), 1, intervalMs),
    failuresBeforeCritical: integer('check.failuresBeforeCritical', options.failuresBeforeCritical, PROBE_FAILURES_DEFAULT, 1, PROBE_THRESHOLD_MAX),
    successesBeforePassing: integer('check.successesBeforePassing', options.successesBeforePassing, PROBE_SUCCESSES_DEFAULT, 1, PROBE_THRESHOLD_MAX),
  };
}

/** What the probe found: `healthy` is the verdict (null: not enough checks yet). */
export interface ProbeResult {
  readonly healthy: boolean | null;
  /** This check's failure, or null when it passed. */
  readonly failure: string | null;
}

export class HealthProbe {
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private failures = 0;
  private successes = 0;
  private verdict: boolean | null = null;

  /** `onResult` is called after every check (the verdict may be unchanged). */
  constructor(
    readonly spec: ProbeSpec,
    private readonly onResult: (result: ProbeResult) => void,
    private readonly check: CheckFn = runCheck,
  ) {}

  /** The current verdict: true (passing), false (failing), null (not known yet). */
  get healthy(): boolean | null {
    return this.verdict;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, delayMs);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    let failure: string | null;
    try {
      failure = await this.check(this.spec);
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    if (this.stopped) return;
    if (failure === null) {
      this.successes++;
      this.failures = 0;
      if (this.successes >= this.spec.successesBeforePassing) this.verdict = true;
    } else {
      this.failures++;
      this.successes = 0;
      if (this.failures >= this.spec.failuresBeforeCritical) this.verdict = false;
    }
    try {
      this.onResult({ healthy: this.verdict, failure });
    } finally {
      if (!this.stopped) this.schedule(this.spec.intervalMs);
    }
  }
}

/** The real checks: an HTTP(S) GET, or a TCP connect. */
export function runCheck(spec: ProbeSpec): Promise<string | null> {
  return spec.target.kind === 'http' ? httpCheck(spec.target.url, spec.timeoutMs) : tcpCheck(spec.target.host, spec.target.port, spec.timeoutMs);
}

function httpCheck(url: URL, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let timer: NodeJS.Timeout | undefined;
    const done = (failure: string | null): void => {
      clearTimeout(timer);
      resolve(failure);
    };
    // A fresh connection per check (no agent): a check must see a server that stopped accepting.
    const request = send(url, { method: 'GET', agent: false, headers: { 'user-agent': 'hikarikeeper-health-probe' } }, (response) => {
      const status = response.statusCode ?? 0;
      response.resume(); // the body does not matter
      request.destroy();
      done(status >= 200 && status < 400 ? null : `GET ${url.href} answered ${status}`);
    });
    timer = setTimeout(() => {
      request.destroy();
      done(`GET ${url.href} unanswered within ${timeoutMs} ms`);
    }, timeoutMs);
    request.on('error', (error) => done(`GET ${url.href} failed: ${error.message}`));
    request.end();
  });
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`TCP connect to ${host}:${port} not done within ${timeoutMs} ms`);
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(null);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      resolve(`TCP connect to ${host}:${port} failed: ${error.message}`);
    });
  });
}

function integer(field: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw HikariError.invalidArgument(field, `must be an integer in [${min}, ${max}]`);
  return value;
}
