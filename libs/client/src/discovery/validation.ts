/**
 * What a service registration may contain, checked before anything is sent: service names and
 * instance ids (they become path segments), the address, tags, metadata, weight and status. Every
 * bound is named here; the HTTP read API of the server checks names with the same rules.
 *
 * Errors: INVALID_ARGUMENT naming the field (`service`, `id`, `host`, `port`, `tags[2]`, ...) for a
 * value of the wrong shape, TOO_LARGE for a value over its bound (`tags` count, `metadata` bytes).
 */
import { isIP } from 'node:net';
import { ErrorCode, HikariError, isJsonValue, isPlainObject, JsonObject } from '@hikarikeeper/protocol';

/** Longest service name and instance id (a DNS label's length). */
export const SERVICE_NAME_CHARS_MAX = 63;

/** Service names and instance ids: a letter or digit, then letters, digits, '.', '_' or '-'. */
export const SERVICE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Longest host name or address (a DNS name's length). */
export const HOST_CHARS_MAX = 253;

/** Most tags per instance, and the longest tag. */
export const TAGS_MAX = 64;
export const TAG_CHARS_MAX = 128;

/** Largest metadata, as JSON in UTF-8 bytes. Records are read by every watcher on every change: keep them small. */
export const METADATA_BYTES_MAX = 8 * 1024;

/** Deepest nesting of metadata values (an object in an object is depth 2). */
export const METADATA_DEPTH_MAX = 8;

/** Weights (for the 'weighted' strategy) are integers in [WEIGHT_MIN, WEIGHT_MAX]; default 1. */
export const WEIGHT_MIN = 1;
export const WEIGHT_MAX = 1000;
export const WEIGHT_DEFAULT = 1;

/** Protocols are short lowercase-ish names: 'http', 'https', 'grpc', 'tcp', 'h2c', 'redis+tls'. */
export const PROTOCOL_PATTERN = /^[A-Za-z][A-Za-z0-9+.-]{0,31}$/;

/**
 * An instance's health, as it declares it (or as its SDK-side probe finds it). Only `passing`
 * instances are picked; `warning` ones are listed and may be chosen by filters; `critical` ones are
 * failing; `maintenance` ones are deliberately out of rotation.
 */
export type ServiceStatus = 'passing' | 'warning' | 'critical' | 'maintenance';

export const SERVICE_STATUSES: readonly ServiceStatus[] = ['passing', 'warning', 'critical', 'maintenance'];

/** Metadata: a JSON object (string values are the common case, as Consul's `Meta`). */
export type ServiceMetadata = JsonObject;

/** Hostnames per RFC 1123: dot-separated labels of letters, digits and inner hyphens. */
const HOSTNAME_PATTERN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

// C0 and C1 control characters.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `name` cannot be a service name or instance id, or null if it can. */
export function serviceNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'is not a string';
  if (name.length === 0) return 'is empty';
  if (name.length > SERVICE_NAME_CHARS_MAX) return `is ${name.length} characters, over the limit of ${SERVICE_NAME_CHARS_MAX}`;
  if (!SERVICE_NAME_PATTERN.test(name)) return 'must start with a letter or digit and contain only letters, digits, ., _ and -';
  return null;
}

/** Throws INVALID_ARGUMENT (naming `field`) unless `name` is a service name / instance id. */
export function checkServiceName(name: unknown, field = 'service'): string {
  const problem = serviceNameProblem(name);
  if (problem !== null) throw HikariError.invalidArgument(field, `${describe(name)} ${problem}`);
  return name as string;
}

/** Throws INVALID_ARGUMENT unless `host` is an IP address or a host name. */
export function checkHost(host: unknown, field = 'host'): string {
  if (typeof host !== 'string' || host.length === 0) throw HikariError.invalidArgument(field, 'must be a non-empty string');
  if (host.length > HOST_CHARS_MAX) throw HikariError.invalidArgument(field, `is ${host.length} characters, over the limit of ${HOST_CHARS_MAX}`);
  if (isIP(host) === 0 && !HOSTNAME_PATTERN.test(host)) {
    throw HikariError.invalidArgument(field, `${describe(host)} is neither an IP address nor a host name`);
  }
  return host;
}

/** Throws INVALID_ARGUMENT unless `port` is an integer in [1, 65535]. */
export function checkPort(port: unknown, field = 'port'): number {
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
    throw HikariError.invalidArgument(field, 'must be an integer in [1, 65535]');
  }
  return port as number;
}

export function checkProtocol(protocol: unknown, field = 'protocol'): string {
  if (typeof protocol !== 'string' || !PROTOCOL_PATTERN.test(protocol)) {
    throw HikariError.invalidArgument(field, 'must be a letter then up to 31 letters, digits, +, . or - (e.g. http, grpc)');
  }
  return protocol;
}

/** A copy of the tags, checked: an array of up to TAGS_MAX distinct, non-empty strings of up to TAG_CHARS_MAX characters. */
export function checkTags(tags: unknown, field = 'tags'): string[] {
  if (!Array.isArray(tags)) throw HikariError.invalidArgument(field, 'must be an array of strings');
  if (tags.length > TAGS_MAX) throw tooLarge(field, tags.length, TAGS_MAX, `${field} has ${tags.length} tags, over the limit of ${TAGS_MAX}`);
  const seen = new Set<string>();
  tags.forEach((tag: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof tag !== 'string' || tag.length === 0) throw HikariError.invalidArgument(at, 'must be a non-empty string');
    if (tag.length > TAG_CHARS_MAX) throw HikariError.invalidArgument(at, `is ${tag.length} characters, over the limit of ${TAG_CHARS_MAX}`);
    if (CONTROL_CHARACTER.test(tag)) throw HikariError.invalidArgument(at, 'contains a control character');
    if (seen.has(tag)) throw HikariError.invalidArgument(at, `repeats the tag ${describe(tag)}`);
    seen.add(tag);
  });
  return [...tags] as string[];
}

/** A deep copy of the metadata, checked: a JSON object of at most METADATA_BYTES_MAX bytes as JSON. */
export function checkMetadata(metadata: unknown, field = 'metadata'): ServiceMetadata {
  if (!isPlainObject(metadata)) throw HikariError.invalidArgument(field, 'must be a plain object');
  if (!isJsonValue(metadata, METADATA_DEPTH_MAX)) {
    throw HikariError.invalidArgument(field, `must hold only JSON values (finite numbers, strings, booleans, null, arrays, objects), nested at most ${METADATA_DEPTH_MAX} deep`);
  }
  const json = JSON.stringify(metadata);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > METADATA_BYTES_MAX) {
    throw tooLarge(field, bytes, METADATA_BYTES_MAX, `${field} is ${bytes} bytes as JSON, over the limit of ${METADATA_BYTES_MAX}`);
  }
  return JSON.parse(json) as ServiceMetadata;
}

export function checkWeight(weight: unknown, field = 'weight'): number {
  if (!Number.isInteger(weight) || (weight as number) < WEIGHT_MIN || (weight as number) > WEIGHT_MAX) {
    throw HikariError.invalidArgument(field, `must be an integer in [${WEIGHT_MIN}, ${WEIGHT_MAX}]`);
  }
  return weight as number;
}

export function isServiceStatus(status: unknown): status is ServiceStatus {
  return typeof status === 'string' && (SERVICE_STATUSES as readonly string[]).includes(status);
}

export function checkStatus(status: unknown, field = 'status'): ServiceStatus {
  if (!isServiceStatus(status)) throw HikariError.invalidArgument(field, `must be one of ${SERVICE_STATUSES.join(', ')}`);
  return status;
}

/** A status filter: one status or a non-empty list of them. */
export function checkStatusFilter(status: unknown, field = 'status'): ServiceStatus[] {
  const list = Array.isArray(status) ? status : [status];
  if (list.length === 0) throw HikariError.invalidArgument(field, 'must name at least one status');
  return list.map((each, i) => checkStatus(each, Array.isArray(status) ? `${field}[${i}]` : field));
}

/** TOO_LARGE with the usual details ({ what, size, limit }) and a message that says what to fix. */
function tooLarge(what: string, size: number, limit: number, message: string): HikariError {
  return new HikariError(ErrorCode.TOO_LARGE, { what, size, limit }, { message });
}

/** A value quoted in a message: short, and visibly a string. */
function describe(value: unknown): string {
  if (typeof value !== 'string') return String(value);
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}
