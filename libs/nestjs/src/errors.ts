/**
 * What the module throws, and how HikariKeeper errors become HTTP answers.
 *
 * - HikariConfigError: the module's options are wrong (thrown while the application starts).
 * - HikariNotReadyError: a @DistributedLock / @LeaderOnly method was called on an instance HikariModule
 *   has not set up (before the module's providers exist, after the application shut down, or on an
 *   object Nest did not create).
 * - HikariClusterRequiredError: elections or discovery asked of a module that has no cluster (driver
 *   'redis' without `endpoints`).
 * - LockTimeoutException: a @DistributedLock method gave up waiting for its lock (`waitMs`), with
 *   `onTimeout: 'throw'` (the default). A ConflictException: Nest's default filter answers 409.
 * - HikariExceptionFilter (optional): answers the SDK's own LOCK_TIMEOUT and FENCE_MISMATCH errors
 *   (from HikariLockService, fenced writes) with 409 too, instead of 500; with
 *   `lockTimeoutStatus: 423`, every lock timeout (LockTimeoutException included) answers 423 Locked.
 */
import { ArgumentsHost, Catch, ConflictException, HttpException, HttpServer, Inject, Optional, Provider } from '@nestjs/common';
import { APP_FILTER, BaseExceptionFilter, HttpAdapterHost } from '@nestjs/core';
import { ErrorCode, HikariError } from '@hikarikeeper/client';

export class HikariConfigError extends Error {
  override readonly name = 'HikariConfigError';
}

export class HikariNotReadyError extends Error {
  override readonly name = 'HikariNotReadyError';
}

export class HikariClusterRequiredError extends Error {
  override readonly name = 'HikariClusterRequiredError';

  constructor(feature: string) {
    super(
      `${feature} needs the HikariKeeper cluster, and this HikariModule has none: driver 'redis' provides locks only. ` +
        'Give `endpoints` as well (locks stay on Redis), or use the cluster driver.',
    );
  }
}

/** A @DistributedLock method waited `waitMs` for its lock in vain (HTTP 409 Conflict). */
export class LockTimeoutException extends ConflictException {
  /** The lock name, as built from the key. */
  readonly lock: string;
  readonly waitMs: number | undefined;

  constructor(lock: string, waitMs: number | undefined, cause?: unknown) {
    const message = `lock ${lock} is busy: not acquired within ${waitMs ?? 0} ms`;
    super({ statusCode: 409, error: 'Conflict', code: ErrorCode.LOCK_TIMEOUT, message, lock }, { cause, description: message });
    this.lock = lock;
    this.waitMs = waitMs;
  }
}

/** How HikariExceptionFilter (and `toHttpException`) answer. */
export interface HikariHttpOptions {
  /** The status of a lock timeout: 409 Conflict (default) or 423 Locked. */
  lockTimeoutStatus?: 409 | 423;
}

/** Injection token of HikariExceptionFilter's options (or use `HikariExceptionFilter.provide(options)`). */
export const HIKARI_HTTP_OPTIONS = Symbol('HikariHttpOptions');

/**
 * The HTTP exception for a HikariError, or null when it has none: LOCK_TIMEOUT → LockTimeoutException
 * (409; 423 Locked with `lockTimeoutStatus: 423`), FENCE_MISMATCH → ConflictException (409: a newer
 * holder of the lock has written). For filters of your own.
 */
export function toHttpException(error: HikariError, options: HikariHttpOptions = {}): HttpException | null {
  switch (error.code) {
    case ErrorCode.LOCK_TIMEOUT: {
      const name = typeof error.details.name === 'string' ? error.details.name : '';
      const waitMs = typeof error.details.waitMs === 'number' ? error.details.waitMs : undefined;
      return withLockTimeoutStatus(new LockTimeoutException(name, waitMs, error), options);
    }
    case ErrorCode.FENCE_MISMATCH:
      return new ConflictException(
        { statusCode: 409, error: 'Conflict', code: ErrorCode.FENCE_MISMATCH, message: 'the fencing token is not the current one: a newer holder of the lock has written' },
        { cause: error },
      );
    default:
      return null;
  }
}

/**
 * Answers HikariErrors of HTTP requests: LOCK_TIMEOUT and FENCE_MISMATCH with 409 (see
 * `toHttpException`), any other as Nest answers an unknown error (500, logged); and, with
 * `lockTimeoutStatus: 423`, LockTimeoutException with 423 too. Register it as a provider
 * (`{ provide: APP_FILTER, useClass: HikariExceptionFilter }`, or `HikariExceptionFilter.provide({
 * lockTimeoutStatus: 423 })`), with `@UseFilters`, or with
 * `app.useGlobalFilters(new HikariExceptionFilter(app.getHttpAdapter(), options))`.
 */
@Catch(HikariError, LockTimeoutException)
export class HikariExceptionFilter extends BaseExceptionFilter {
  private readonly options: HikariHttpOptions;

  constructor(@Optional() applicationRef?: HttpServer, @Optional() @Inject(HIKARI_HTTP_OPTIONS) options: HikariHttpOptions = {}) {
    super(applicationRef);
    const status = options?.lockTimeoutStatus;
    if (status !== undefined && status !== 409 && status !== 423) throw new HikariConfigError('HikariExceptionFilter: `lockTimeoutStatus` must be 409 or 423');
    this.options = options ?? {};
  }

  /** The APP_FILTER provider of a filter with `options`. */
  static provide(options: HikariHttpOptions): Provider {
    return { provide: APP_FILTER, useFactory: (host: HttpAdapterHost) => new HikariExceptionFilter(host.httpAdapter, options), inject: [HttpAdapterHost] };
  }

  override catch(exception: HikariError | LockTimeoutException, host: ArgumentsHost): void {
    const answer = exception instanceof LockTimeoutException ? withLockTimeoutStatus(exception, this.options) : toHttpException(exception, this.options);
    super.catch(answer ?? exception, host);
  }
}

/** `exception`, or the same answer with status 423 Locked when the options ask for it. */
function withLockTimeoutStatus(exception: LockTimeoutException, options: HikariHttpOptions): HttpException {
  if (options.lockTimeoutStatus !== 423) return exception;
  const body = { ...(exception.getResponse() as Record<string, unknown>), statusCode: 423, error: 'Locked' };
  return new HttpException(body, 423, { cause: exception.cause ?? exception, description: exception.message });
}
