import { HikariError } from '../errors';

/** The HikariError `run` throws; fails the test if it throws nothing or something else. */
export function rejection(run: () => unknown): HikariError {
  try {
    run();
  } catch (error) {
    if (error instanceof HikariError) return error;
    throw error;
  }
  throw new Error('expected a HikariError');
}

/** The code of the HikariError `run` throws, or 'ok' when it returns. */
export function outcomeCode(run: () => unknown): string {
  try {
    run();
    return 'ok';
  } catch (error) {
    if (error instanceof HikariError) return error.code;
    throw error;
  }
}
