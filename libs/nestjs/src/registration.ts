/**
 * HikariRegistrar (internal): registers the application in service discovery (the module's
 * `registration` option) once it is reachable, and deregisters it on shutdown.
 *
 * When: `onApplicationBootstrap`, or later for an HTTP application that is not listening yet —
 * `app.listen()` runs the bootstrap hooks before its server is bound, so the registration waits for
 * the server to listen (HttpAdapterHost's `listen$`) and advertises the port it is bound to. An
 * application without an HTTP server (an application context, a microservice) registers at
 * bootstrap, with the configured `port`; an HTTP application that never listens (`app.init()`
 * alone) is not registered.
 *
 * Where: `registration.host`, else the address the server is bound to if it is a specific one, else
 * this machine's first external IPv4 address, else its host name.
 *
 * Failures: a registration that fails (the cluster out of reach) is tried again with backoff until it
 * succeeds or the application shuts down. Once registered, the SDK keeps the record up by itself:
 * after a session expiry it writes it again on the new session (see the SDK's instance-handle.ts).
 *
 * Shutdown (`beforeApplicationShutdown`, before the HTTP server stops): the record is deleted, so that
 * callers stop picking this instance while it drains; closing the session (connection.ts) would
 * remove it as well, a moment later.
 */
import { networkInterfaces, hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ErrorCode, HikariError, InstanceHandle, RegisterOptions } from '@hikarikeeper/client';
import type { Subscription } from 'rxjs';
import type { HikariConnection } from './connection';
import { HikariConfigError } from './errors';
import { HIKARI_CONNECTION } from './tokens';
import { backoffMs, errorText, sleep, withTimeout } from './util';

/** Backoff between registration attempts: 500 ms doubling to 30 s, with jitter. */
const RETRY_MS_INITIAL = 500;
const RETRY_MS_MAX = 30_000;

/** Longest wait for the deregistration at shutdown before the session is closed anyway. */
const DEREGISTER_WAIT_MS_MAX = 2_000;

/** What `server.address()` answers; the part the registrar reads. */
type BoundAddress = AddressInfo | string | null;

interface ListeningServer {
  readonly listening?: boolean;
  address(): BoundAddress;
}

@Injectable()
export class HikariRegistrar implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private current: InstanceHandle | null = null;
  private readonly ready: Promise<InstanceHandle>;
  private settle!: { resolve(handle: InstanceHandle): void; reject(error: Error): void };
  private listening: Subscription | null = null;
  private readonly stop = new AbortController();
  private attempts: Promise<void> | null = null;

  constructor(
    @Inject(HIKARI_CONNECTION) private readonly connection: HikariConnection,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.ready = new Promise<InstanceHandle>((resolve, reject) => (this.settle = { resolve, reject }));
    this.ready.catch(() => undefined); // heard by whoever awaits `registered()`
    if (connection.options.registration === null) this.settle.reject(new Error('HikariModule has no `registration` option: this application does not register'));
  }

  /** The registration's handle once registered (see the SDK's InstanceHandle); null before, or without `registration`. */
  get handle(): InstanceHandle | null {
    return this.current;
  }

  /** Resolves with the handle once registered; rejects without `registration`, or if the application shuts down first. */
  registered(): Promise<InstanceHandle> {
    return this.ready;
  }

  async onApplicationBootstrap(): Promise<void> {
    const registration = this.connection.options.registration;
    if (registration === null) return;
    const adapter = this.adapterHost?.httpAdapter;
    const server = adapter?.getHttpServer() as ListeningServer | undefined;
    if (server === undefined || server === null) {
      if (registration.port === undefined) {
        // The start fails: no shutdown hook will run, so the session is closed here.
        await this.connection.close();
        throw new HikariConfigError(
          'HikariModule: `registration.port` is required when the application does not listen over HTTP (an application context, a microservice): give the port others should connect to',
        );
      }
      this.start(registration.port, null, false);
      return;
    }
    const whenListening = (): void => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        if (registration.port === undefined) {
          this.connection.options.logger.error(`not registered in ${registration.service}: the server listens on ${String(address)}, not a TCP port, and \`registration.port\` is not set`);
          return;
        }
        this.start(registration.port, null, true);
      } else {
        this.start(address.port, address.address, true);
      }
    };
    if (server.listening === true || this.adapterHost!.listening) whenListening();
    else this.listening = this.adapterHost!.listen$.subscribe({ next: whenListening });
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.listening?.unsubscribe();
    this.stop.abort();
    await this.attempts;
    this.settle.reject(new Error('the application shut down before it was registered'));
    const handle = this.current;
    if (handle === null || handle.state === 'deregistered' || handle.state === 'closed') return;
    try {
      await withTimeout(handle.deregister(), DEREGISTER_WAIT_MS_MAX);
      this.connection.options.logger.log(`deregistered ${handle.service}/${handle.id}`);
    } catch (error) {
      this.connection.options.logger.warn(`deregistering ${handle.service}/${handle.id} failed (${errorText(error)}); closing the session removes it`);
    }
  }

  /** Registers with `port` (retrying until done or stopped); `bound` is the address the HTTP server is bound to. */
  private start(port: number, bound: string | null, http: boolean): void {
    const registration = this.connection.options.registration!;
    const { check, host, id, ...rest } = registration;
    const options: RegisterOptions = {
      ...rest,
      id: id ?? this.connection.options.instanceId,
      host: host ?? advertisedHost(bound),
      port,
      protocol: registration.protocol ?? (http ? 'http' : undefined),
      ...(check === undefined ? {} : { check }),
    };
    this.attempts = this.register(options);
  }

  private async register(options: RegisterOptions): Promise<void> {
    const client = this.connection.requireClient('Registration');
    const { logger } = this.connection.options;
    for (let failures = 0; !this.stop.signal.aborted; ) {
      try {
        const handle = await client.discovery.register(options);
        if (this.stop.signal.aborted) {
          await handle.deregister().catch(() => undefined);
          return;
        }
        this.current = handle;
        logger.log(`registered ${handle.service}/${handle.id} at ${options.host}:${options.port}`);
        this.settle.resolve(handle);
        return;
      } catch (error) {
        if (this.stop.signal.aborted || HikariError.is(error, ErrorCode.CANCELLED)) return;
        if (HikariError.is(error, ErrorCode.INVALID_ARGUMENT) || HikariError.is(error, ErrorCode.TOO_LARGE)) {
          logger.error(`not registered in ${options.service}: ${errorText(error)}`);
          this.settle.reject(error);
          return;
        }
        failures++;
        const delayMs = backoffMs(failures, RETRY_MS_INITIAL, RETRY_MS_MAX);
        logger.warn(`registering in ${options.service} failed (${errorText(error)}); trying again in ${delayMs} ms`);
        await sleep(delayMs, this.stop.signal);
      }
    }
  }
}

/** The address to advertise when none is configured (see the head comment). */
export function advertisedHost(bound: string | null): string {
  if (bound !== null && bound !== '' && bound !== '::' && bound !== '0.0.0.0' && bound !== '::ffff:0.0.0.0') return bound;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return hostname();
}
