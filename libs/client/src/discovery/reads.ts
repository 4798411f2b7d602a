/**
 * One-shot reads of the registry: a service's instances, one instance, the services with their
 * instance counts. A service's instances come with their records in one `children { data: true }`
 * request per page (one read point per page, linearizable unless `stale`); the services' counts are
 * read one call each, a bounded number at a time, so that listing is not one snapshot: a service
 * appearing or emptied while it runs may or may not be in it.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import type { CallOptions } from '../dispatcher';
import type { DiscoveryPort } from './port';
import { instancePath, parseInstance, servicePath, ServiceInstance, SERVICES_ROOT, ServiceSummary } from './record';
import { serviceNameProblem } from './validation';

/** Reads in flight at once for one listing. */
export const READ_CONCURRENCY = 32;

/** Names per `children` page when listing. */
const PAGE_SIZE = 1000;

export interface RegistryReadOptions extends CallOptions {
  /** Read from the connected node's state, without confirming with the leader (faster, maybe behind). */
  stale?: boolean;
}

/** Every instance of `service` (by id); none when the service does not exist. */
export async function readInstances(port: DiscoveryPort, service: string, options: RegistryReadOptions = {}): Promise<Map<string, ServiceInstance>> {
  const instances = new Map<string, ServiceInstance>();
  let after: string | undefined;
  for (;;) {
    let page;
    try {
      page = await port.children(servicePath(service), { ...options, after, limit: PAGE_SIZE, data: true });
    } catch (error) {
      if (HikariError.is(error, ErrorCode.NO_NODE)) return instances;
      throw error;
    }
    for (const child of page.children ?? []) {
      const instance = parseInstance(service, child.name, Buffer.from(child.data), child.stat);
      if (instance !== null) instances.set(instance.id, instance);
    }
    if (!page.more || page.names.length === 0) return instances;
    after = page.names[page.names.length - 1];
  }
}

/** The instance `/services/<service>/<id>`, or null when it is gone or not a readable record. */
export async function readInstance(port: DiscoveryPort, service: string, id: string, options: RegistryReadOptions = {}): Promise<ServiceInstance | null> {
  try {
    const { data, stat } = await port.get(instancePath(service, id), options);
    return parseInstance(service, id, data, stat);
  } catch (error) {
    if (HikariError.is(error, ErrorCode.NO_NODE)) return null;
    throw error;
  }
}

/** Services with at least one instance, by name. */
export async function readServices(port: DiscoveryPort, options: RegistryReadOptions = {}): Promise<ServiceSummary[]> {
  const names = (await listChildren(port, SERVICES_ROOT, options)).filter((name) => serviceNameProblem(name) === null);
  const counted = await mapLimit(names, READ_CONCURRENCY, async (service) => {
    const found = await port.exists(servicePath(service), options);
    return { service, instances: found?.stat.childrenCount ?? 0 };
  });
  return counted.filter((summary) => summary.instances > 0);
}

/** Every child name of `path`, page by page; none when it does not exist. */
async function listChildren(port: DiscoveryPort, path: string, options: RegistryReadOptions): Promise<string[]> {
  const names: string[] = [];
  let after: string | undefined;
  for (;;) {
    let page;
    try {
      page = await port.children(path, { ...options, after, limit: PAGE_SIZE });
    } catch (error) {
      if (HikariError.is(error, ErrorCode.NO_NODE)) return names;
      throw error;
    }
    names.push(...page.names);
    if (!page.more || page.names.length === 0) return names;
    after = page.names[page.names.length - 1];
  }
}

/** `fn` over `items`, at most `limit` at a time; results in the order of `items`. Fails with the first failure. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const at = next++;
      try {
        results[at] = await fn(items[at]!);
      } catch (error) {
        next = items.length; // the others stop after their current item
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
