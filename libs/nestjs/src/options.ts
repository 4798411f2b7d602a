/**
 * HikariModule's options: what a user may set (`HikariModuleOptions`), and `resolveOptions`, which
 * checks them once, when the module starts, and fills in the defaults, so that the rest of the module
 * never handles `undefined` or a nonsensical value. A mistake fails the application's start with a
 * HikariConfigError that names the option.
 *
 * Drivers:
 * - 'cluster' (default): the HikariKeeper client (`endpoints` required) serves locks, elections,
 *   registration and discovery.
 * - 'redis': locks go to Redis through the SDK's RedisLockDriver over the caller's ioredis client
 *   (`redis.client`). Elections and discovery still need the cluster: with `endpoints` as well, the
 *   client serves them; without, they throw HikariClusterRequiredError, and @LeaderOnly or
 *   `registration` fail the start.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Logger, LoggerService } from '@nestjs/common';
import type {
  HealthCheckOptions,
  HikariClientOptions,
  LockMode,
  RedisLockDriver,
  RedisLockDriverOptions,
  ServiceMetadata,
} from '@hikarikeeper/client';
import { HikariConfigError } from './errors';

/** An ioredis client, as RedisLockDriver takes it (ioredis is an optional peer dependency). */
export type RedisClient = ConstructorParameters<typeof RedisLockDriver>[0];

export interface HikariRedisOptions extends RedisLockDriverOptions {
  /** The ioredis client the locks use. The module does not close it: it is the application's. */
  client: RedisClient;
}

/** What @DistributedLock methods and HikariLockService calls use unless they say otherwise. */
export interface HikariLockDefaults {
  /** Put before every lock name the module builds or is given (not before the raw client's). Default ''. */
  keyPrefix?: string;
  /** Default 'exclusive'. 'shared' needs the cluster driver. */
  mode?: LockMode;
  /** Longest wait for a lock (ms); 0: do not wait. Default: wait until granted. */
  waitMs?: number;
  /** What a @DistributedLock method does when `waitMs` passes: throw LockTimeoutException (default) or skip (resolve undefined). */
  onTimeout?: 'throw' | 'skip';
}

/** This application as an instance of a service (see the SDK's RegisterOptions). */
export interface HikariRegistrationOptions {
  /** The service's name: a letter or digit, then up to 62 letters, digits, '.', '_' or '-'. */
  service: string;
  /** The instance id. Default: the module's `instanceId`. */
  id?: string;
  /**
   * The port to advertise when the application does not listen over HTTP (an application
   * context, a microservice). An HTTP application advertises the port its server is bound to.
   */
  port?: number;
  /**
   * The address to advertise. Default: the address the HTTP server is bound to, if it is a specific
   * one; else the first external IPv4 address of this machine; else its host name. Set it wherever
   * that guess is not what others should connect to (containers, several interfaces).
   */
  host?: string;
  /** 'http', 'grpc', ... (informational). Default 'http' for an HTTP application. */
  protocol?: string;
  tags?: readonly string[];
  /** A JSON object, at most 8 KiB as JSON. */
  metadata?: ServiceMetadata;
  /** For the 'weighted' strategy: an integer in [1, 1000]. */
  weight?: number;
  /** An SDK-side health probe (see the SDK's HealthCheckOptions). */
  check?: HealthCheckOptions;
}

export interface HikariModuleOptions {
  /** Client addresses of the cluster's nodes ('host:port'). Required with driver 'cluster'. */
  endpoints?: readonly string[];
  /** The cluster id the nodes must have. Default: learnt from the first node. */
  clusterId?: string;
  /**
   * The session timeout (ms): how long this application may go silent (crash, pause, partition)
   * before its locks, leaderships and registration are released. Default: the SDK's (10,000).
   */
  sessionTimeoutMs?: number;
  /** Further client options (call deadline, backoff, client id, ...). */
  client?: Omit<HikariClientOptions, 'endpoints' | 'clusterId' | 'session'>;
  /** Where locks live. Default 'cluster'. */
  driver?: 'cluster' | 'redis';
  /** With driver 'redis': the ioredis client, and the RedisLockDriver's options. */
  redis?: HikariRedisOptions;
  /** Register this application in service discovery once it is listening (see HikariRegistrationOptions). */
  registration?: HikariRegistrationOptions;
  /** Defaults of @DistributedLock and HikariLockService. */
  locks?: HikariLockDefaults;
  /**
   * Names this application: the value it campaigns with in elections (shown by `leader()`), and its
   * registration's default id. Default: `<host name>-<pid>-<6 random hex digits>`.
   */
  instanceId?: string;
  /** Where the module logs. Default: a Nest Logger with the context 'HikariModule'; false: nowhere. */
  logger?: LoggerService | false;
}

/** The options, checked and complete. */
export interface ResolvedHikariOptions {
  readonly driver: 'cluster' | 'redis';
  /** The client's options; null when there is no cluster (driver 'redis' without endpoints). */
  readonly client: HikariClientOptions | null;
  readonly redis: HikariRedisOptions | null;
  readonly registration: HikariRegistrationOptions | null;
  readonly locks: Readonly<{ keyPrefix: string; mode: LockMode; waitMs: number | undefined; onTimeout: 'throw' | 'skip' }>;
  readonly instanceId: string;
  readonly logger: LoggerService;
}

const SILENT: LoggerService = { log() {}, error() {}, warn() {} };

export function resolveOptions(options: HikariModuleOptions): ResolvedHikariOptions {
  if (typeof options !== 'object' || options === null) throw configError('options', 'must be an object');
  const { driver = 'cluster', endpoints, clusterId, sessionTimeoutMs, client, redis, registration, locks = {}, logger } = options;
  if (driver !== 'cluster' && driver !== 'redis') throw configError('driver', "must be 'cluster' or 'redis'");
  if (endpoints !== undefined && (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((e) => typeof e === 'string'))) {
    throw configError('endpoints', "must be a non-empty array of 'host:port' strings");
  }
  if (driver === 'cluster' && endpoints === undefined) {
    throw configError('endpoints', "is required with driver 'cluster' (the default): the client addresses of the cluster's nodes, e.g. ['127.0.0.1:7701']");
  }
  if (driver === 'redis' && (typeof redis !== 'object' || redis === null || typeof redis.client !== 'object' || redis.client === null)) {
    throw configError('redis.client', "is required with driver 'redis': an ioredis client (new Redis(...))");
  }
  if (driver === 'cluster' && redis !== undefined) throw configError('redis', "is for driver 'redis' only");
  if (client !== undefined && (typeof client !== 'object' || client === null)) throw configError('client', 'must be an object');
  if (sessionTimeoutMs !== undefined && (!Number.isSafeInteger(sessionTimeoutMs) || sessionTimeoutMs < 1)) {
    throw configError('sessionTimeoutMs', 'must be a positive integer (ms)');
  }
  if (registration !== undefined) checkRegistration(registration);
  if (registration !== undefined && endpoints === undefined) {
    throw configError('registration', "needs the cluster: give `endpoints` (driver 'redis' alone provides locks only)");
  }
  const instanceId = options.instanceId ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (typeof instanceId !== 'string' || instanceId.length === 0) throw configError('instanceId', 'must be a non-empty string');
  if (logger !== undefined && logger !== false && (typeof logger !== 'object' || logger === null || typeof logger.log !== 'function')) {
    throw configError('logger', 'must be a Nest LoggerService, or false');
  }
  return {
    driver,
    client:
      endpoints === undefined
        ? null
        : {
            ...client,
            endpoints: [...endpoints],
            clusterId,
            session: sessionTimeoutMs === undefined ? {} : { timeoutMs: sessionTimeoutMs },
          },
    redis: driver === 'redis' ? redis! : null,
    registration: registration ?? null,
    locks: resolveLockDefaults(locks),
    instanceId,
    logger: logger === false ? SILENT : (logger ?? new Logger('HikariModule')),
  };
}

function resolveLockDefaults(locks: HikariLockDefaults): ResolvedHikariOptions['locks'] {
  if (typeof locks !== 'object' || locks === null) throw configError('locks', 'must be an object');
  const { keyPrefix = '', mode = 'exclusive', waitMs, onTimeout = 'throw' } = locks;
  if (typeof keyPrefix !== 'string') throw configError('locks.keyPrefix', 'must be a string');
  if (mode !== 'exclusive' && mode !== 'shared') throw configError('locks.mode', "must be 'exclusive' or 'shared'");
  if (waitMs !== undefined && !isWaitMs(waitMs)) throw configError('locks.waitMs', 'must be a finite number of ms ≥ 0');
  if (onTimeout !== 'throw' && onTimeout !== 'skip') throw configError('locks.onTimeout', "must be 'throw' or 'skip'");
  return { keyPrefix, mode, waitMs, onTimeout };
}

function checkRegistration(registration: HikariRegistrationOptions): void {
  if (typeof registration !== 'object' || registration === null) throw configError('registration', 'must be an object');
  if (typeof registration.service !== 'string' || registration.service.length === 0) throw configError('registration.service', 'must be a service name');
  const { port } = registration;
  if (port !== undefined && (!Number.isSafeInteger(port) || port < 1 || port > 65_535)) throw configError('registration.port', 'must be a port number (1 to 65535)');
  if (registration.host !== undefined && (typeof registration.host !== 'string' || registration.host.length === 0)) {
    throw configError('registration.host', 'must be a non-empty string');
  }
}

export const isWaitMs = (ms: unknown): ms is number => typeof ms === 'number' && Number.isFinite(ms) && ms >= 0;

function configError(option: string, problem: string): HikariConfigError {
  return new HikariConfigError(`HikariModule: \`${option}\` ${problem}`);
}
