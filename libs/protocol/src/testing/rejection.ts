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
