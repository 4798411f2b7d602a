/**
 * Shape checks for decoded msgpack values. Each returns the value with its type narrowed, or throws
 * HikariError(BAD_FRAME) naming where (`at`) the value sat in the frame.
 */
import { HikariError } from '@hikarikeeper/protocol';

/** A safe non-negative integer (ids, terms, indexes, offsets). */
export function uint(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw HikariError.badFrame(`${at} is not a non-negative integer`);
  }
  return value;
}

export function array(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) throw HikariError.badFrame(`${at} is not an array`);
  return value;
}

/** An array of exactly `length` elements. */
export function tuple(value: unknown, length: number, at: string): unknown[] {
  const v = array(value, at);
  if (v.length !== length) throw HikariError.badFrame(`${at} has ${v.length} fields, expected ${length}`);
  return v;
}

export function bytes(value: unknown, at: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw HikariError.badFrame(`${at} is not bytes`);
  return value;
}

export function boolean(value: unknown, at: string): boolean {
  if (typeof value !== 'boolean') throw HikariError.badFrame(`${at} is not a boolean`);
  return value;
}

/** A map with string keys (decoded as a plain object). */
export function record(value: unknown, at: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw HikariError.badFrame(`${at} is not a map`);
  }
  return value as Record<string, unknown>;
}
