/**
 * How an instance is stored, and how readers see it. One ephemeral node per instance, at
 * `/services/<service>/<id>`, owned by the registering client's session; its data is the record as
 * JSON (UTF-8):
 *
 * ```json
 * {"v":1,"service":"api","id":"api-1","host":"10.0.0.5","port":8080,"protocol":"http",
 *  "tags":["v2"],"metadata":{"zone":"a"},"weight":1,"status":"passing","registeredAt":1700000000000}
 * ```
 *
 * Readers (`instances()`, watches, caches, the server's HTTP API) turn a node into a
 * `ServiceInstance`: the record plus what the node's stat says (its owner session, its indexes).
 * Reading is lenient, since anyone may write under `/services`: a node whose data is not a record
 * (not JSON, no host or port, another format version) is left out; unknown fields are ignored; a
 * missing status reads as `passing` (as a service without checks is, in Consul), an unknown one as
 * `critical`, never as `passing`.
 */
import type { Stat } from '@hikarikeeper/protocol';
import { isPlainObject } from '@hikarikeeper/protocol';
import {
  isServiceStatus,
  PROTOCOL_PATTERN,
  ServiceMetadata,
  serviceNameProblem,
  ServiceStatus,
  TAG_CHARS_MAX,
  TAGS_MAX,
  WEIGHT_DEFAULT,
  WEIGHT_MAX,
  WEIGHT_MIN,
} from './validation';

/** Where instances live: `/services/<service>/<id>`. */
export const SERVICES_ROOT = '/services';

/** The record format written by this SDK (`v`). Readers skip records of another format. */
export const RECORD_FORMAT = 1;

/** An instance record as stored (JSON). */
export interface InstanceRecord {
  readonly v: typeof RECORD_FORMAT;
  readonly service: string;
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly protocol: string | null;
  readonly tags: readonly string[];
  readonly metadata: ServiceMetadata;
  readonly weight: number;
  readonly status: ServiceStatus;
  /** When the registering process registered it (its clock, ms since the epoch). */
  readonly registeredAt: number;
}

/** A live instance, as readers see it. Frozen: caches hand the same object to every caller. */
export interface ServiceInstance {
  readonly service: string;
  /** The instance id (the node's name). */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** `host:port` (`[host]:port` for an IPv6 address): what to connect to. */
  readonly address: string;
  readonly protocol: string | null;
  readonly tags: readonly string[];
  readonly metadata: Readonly<ServiceMetadata>;
  readonly weight: number;
  readonly status: ServiceStatus;
  readonly registeredAt: number;
  /** The session that owns the record: it disappears when that session ends. */
  readonly sessionId: string | null;
  /** Log index of the registration (the node's creation). */
  readonly createdIndex: number;
  /** Log index of the record's last change (registration or update). */
  readonly modifiedIndex: number;
}

/** A service's instance count, as `services()` lists it. */
export interface ServiceSummary {
  readonly service: string;
  readonly instances: number;
}

export function servicePath(service: string): string {
  return `${SERVICES_ROOT}/${service}`;
}

export function instancePath(service: string, id: string): string {
  return `${SERVICES_ROOT}/${service}/${id}`;
}

/** The record's bytes. */
export function encodeRecord(record: InstanceRecord): Buffer {
  return Buffer.from(JSON.stringify(record), 'utf8');
}

/** `host:port`, with brackets around an IPv6 address. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The instance stored at `/services/<service>/<id>` with `data` and `stat`, or null when the data is
 * not a record this SDK can read (see the head comment). The node's name is the id, whatever the
 * record says.
 */
export function parseInstance(service: string, id: string, data: Uint8Array, stat: Stat): ServiceInstance | null {
  if (serviceNameProblem(id) !== null) return null;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    return null;
  }
  if (!isPlainObject(value) || value.v !== RECORD_FORMAT) return null;
  const { host, port } = value;
  if (typeof host !== 'string' || host.length === 0 || !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) return null;
  const tags = Array.isArray(value.tags)
    ? value.tags.filter((tag): tag is string => typeof tag === 'string' && tag.length > 0 && tag.length <= TAG_CHARS_MAX).slice(0, TAGS_MAX)
    : [];
  const weight = Number.isInteger(value.weight) && (value.weight as number) >= WEIGHT_MIN && (value.weight as number) <= WEIGHT_MAX ? (value.weight as number) : WEIGHT_DEFAULT;
  const protocol = typeof value.protocol === 'string' && PROTOCOL_PATTERN.test(value.protocol) ? value.protocol : null;
  const metadata = isPlainObject(value.metadata) ? (value.metadata as ServiceMetadata) : {};
  const instance: ServiceInstance = {
    service,
    id,
    host,
    port: port as number,
    address: formatAddress(host, port as number),
    protocol,
    tags: Object.freeze(tags),
    metadata: deepFreeze(metadata),
    weight,
    status: value.status === undefined ? 'passing' : isServiceStatus(value.status) ? value.status : 'critical',
    registeredAt: Number.isSafeInteger(value.registeredAt) ? (value.registeredAt as number) : 0,
    sessionId: stat.ephemeralOwner,
    createdIndex: stat.createdIndex,
    modifiedIndex: stat.modifiedIndex,
  };
  return Object.freeze(instance);
}

/** What `instances()` and caches filter on. */
export interface InstanceFilter {
  /** Only instances with one of these statuses. */
  readonly statuses?: ReadonlySet<ServiceStatus>;
  /** Only instances carrying every one of these tags. */
  readonly tags?: readonly string[];
}

export function matchesFilter(instance: ServiceInstance, filter: InstanceFilter): boolean {
  if (filter.statuses !== undefined && !filter.statuses.has(instance.status)) return false;
  return filter.tags === undefined || filter.tags.every((tag) => instance.tags.includes(tag));
}

/** Instances in the order every reader lists them: by id (byte order, as node names sort). */
export function byId(a: ServiceInstance, b: ServiceInstance): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const each of Object.values(value)) deepFreeze(each);
  }
  return value;
}
