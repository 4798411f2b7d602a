/**
 * Plain values as read from the wire. A msgpack decoder can hand back more than JSON (Dates, Sets,
 * binary, class instances from extensions); these guards admit only what every peer can represent.
 */

export type JsonPrimitive = null | boolean | number | string;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** A map decoded from msgpack or written as a literal: not an array, Date, Buffer, Set or class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** True when `value` is a JSON value nested at most `depthMax` levels (cycles cannot pass the bound). */
export function isJsonValue(value: unknown, depthMax: number): value is JsonValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (depthMax <= 0) return false;
  if (Array.isArray(value)) return value.every((item) => isJsonValue(item, depthMax - 1));
  if (!isPlainObject(value)) return false;
  return Object.keys(value).every((key) => isJsonValue(value[key], depthMax - 1));
}
