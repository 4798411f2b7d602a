import { HikariError } from '@hikarikeeper/protocol';

/** The HikariError `promise` rejects with; fails the test if it resolves or rejects with something else. */
export async function rejection(promise: Promise<unknown>): Promise<HikariError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HikariError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}
