/**
 * HikariConnection (internal): the module's link to its backends, made while the application's
 * providers are created — `HikariClient.connect` is awaited there, so every provider and every hook
 * that comes later finds the client connected and a session open — and closed in
 * `onApplicationShutdown`, after the module has deregistered and resigned
 * (`beforeApplicationShutdown`): closing the client ends the session, so its locks, leaderships
 * and ephemeral nodes are released at once rather than at the session's expiry.
 *
 * The client is a HikariClient (HikariModule), or a MemoryClient of an in-process MemoryCluster
 * (HikariTestingModule, through `over`): the module uses only what both offer (HikariClientApi).
 * The lock driver is the client's (`client.locks`) with driver 'cluster', or a RedisLockDriver over
 * the application's ioredis client with driver 'redis' (the module does not close that client).
 *
 * The session's life is logged: `suspended` and `expired` as warnings (after an expiry, the SDK
 * opens a new session by itself, registrations are written again, and the elections stand again:
 * see election.service.ts), `reconnected` as a plain line.
 */
import { OnApplicationShutdown } from '@nestjs/common';
import { HikariClient, HikariClientApi, LockDriver, RedisLockDriver } from '@hikarikeeper/client';
import { HikariClusterRequiredError } from './errors';
import type { ResolvedHikariOptions } from './options';

export class HikariConnection implements OnApplicationShutdown {
  private closing: Promise<void> | null = null;

  private constructor(
    readonly options: ResolvedHikariOptions,
    /** A HikariClient (a MemoryClient under HikariTestingModule); null when there is no cluster (driver 'redis' without endpoints). */
    readonly client: HikariClientApi | null,
    readonly locks: LockDriver,
  ) {}

  /** Connects (with a cluster), and makes the lock driver. Throws what `HikariClient.connect` throws. */
  static async open(options: ResolvedHikariOptions): Promise<HikariConnection> {
    const client = options.client === null ? null : await HikariClient.connect(options.client);
    return HikariConnection.over(client, options);
  }

  /** The module's link over `client`, connected already (HikariTestingModule gives a MemoryClient). */
  static over(client: HikariClientApi | null, options: ResolvedHikariOptions): HikariConnection {
    const { logger } = options;
    if (client !== null) {
      const session = client.session;
      logger.log(`connected to ${client.endpoint ?? 'the cluster'}${session === null ? '' : `, session ${session.id} (timeout ${session.timeoutMs} ms)`}`);
      client.on('suspended', ({ sessionId, error }) => logger.warn(`session ${sessionId} suspended (${error.message}): reconnecting`));
      client.on('reconnected', ({ endpoint }) => logger.log(`reconnected to ${endpoint}`));
      client.on('expired', ({ sessionId }) =>
        logger.warn(`session ${sessionId} expired: its locks, leaderships and registration were released; a new session is opening`),
      );
    }
    let locks: LockDriver;
    if (options.driver === 'redis') {
      const { client: redis, ...driverOptions } = options.redis!;
      locks = new RedisLockDriver(redis, driverOptions);
    } else {
      locks = client!.locks;
    }
    return new HikariConnection(options, client, locks);
  }

  /** True once the application has started shutting down (the client closed or closing). */
  get closed(): boolean {
    return this.closing !== null;
  }

  /** The client; HikariClusterRequiredError (naming `feature`) when there is no cluster. */
  requireClient(feature: string): HikariClientApi {
    if (this.client === null) throw new HikariClusterRequiredError(feature);
    return this.client;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  /** Closes the client (ends the session); idempotent. */
  close(): Promise<void> {
    this.closing ??= (this.client?.close() ?? Promise.resolve()).then(() => {
      if (this.client !== null) this.options.logger.log('session closed');
    });
    return this.closing;
  }
}
