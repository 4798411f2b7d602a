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
 *   (from HikariLockService, fenced writes) with 409 too, instead of 500.
 */
import { ArgumentsHost, Catch, ConflictException, HttpException } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
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

/**
 * The HTTP exception for a HikariError, or null when it has none: LOCK_TIMEOUT → LockTimeoutException
 * (409), FENCE_MISMATCH → ConflictException (409: a newer holder of the lock has written). For filters
 * of your own.
 */
export function toHttpException(error: HikariError): HttpException | null {
  switch (error.code) {
    case ErrorCode.LOCK_TIMEOUT: {
      const name = typeof error.details.name === 'string' ? error.details.name : '';
      const waitMs = typeof error.details.waitMs === 'number' ? error.details.waitMs : undefined;
      return new LockTimeoutException(name, waitMs, error);
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
 * `toHttpException`), any other as Nest answers an unknown error (500, logged). Register it as a
 * provider (`{ provide: APP_FILTER, useClass: HikariExceptionFilter }`), with `@UseFilters`, or with
 * `app.useGlobalFilters(new HikariExceptionFilter(app.getHttpAdapter()))`.
 */
@Catch(HikariError)
export class HikariExceptionFilter extends BaseExceptionFilter {
  override catch(exception: HikariError, host: ArgumentsHost): void {
    super.catch(toHttpException(exception) ?? exception, host);
  }
}
