/**
 * The HTTP read API of service discovery, on the admin port, for clients that do not run the SDK
 * (other languages, shell scripts, load balancers):
 *
 * - `GET /v1/services` → `{ index, services: [{ service, instances }] }`: services with at least one
 *   instance, by name.
 * - `GET /v1/services/<name>` → `{ service, index, instances: [...] }`: its live instances, sorted by
 *   id, as the SDK reads them (`ServiceInstance`); `?status=passing[,warning]` and `?tag=a&tag=b`
 *   (every tag) filter them. An unknown service has no instances (200, empty list).
 *
 * Every answer carries `X-Hikari-Index`: the log index of the last change it reflects (for a service:
 * any change to its instances; for the list: an instance registered or gone). Reads are linearizable
 * (a ReadIndex through the leader, as the client API's reads) unless `?stale`, which answers from this
 * node's state (no leader needed; possibly behind).
 *
 * Blocking queries, as Consul's: with `?index=N`, the answer waits until the index passes N (the
 * instances, or the list, changed since the answer that gave N) or `?wait` passes (`30s`, `500ms`,
 * `5m`; a bare number is seconds; default and maximum 5 minutes, plus up to 1/16 of random jitter so
 * that clients woken together do not come back together), then answers as above. A client loops,
 * passing the index it got. Indexes only grow; an answer may come with the same content (a change
 * that the filters hide, or one already seen), so compare before acting.
 *
 * How indexes are known: one recursive watch of `/services` in the node's watch hub (changes come
 * after their batch is durable, before any read after them is answered). Indexes start at the
 * point this node began watching (a service not changed since has that index); a snapshot install
 * (the hub resets) restarts them at the snapshot's index, waking every blocking query.
 *
 * Bounds: at most `blockingQueriesMax` (1,000) blocking queries wait at once on this node (429
 * TOO_MANY_REQUESTS beyond), `wait` at most WAIT_MS_MAX, at most READ_NAMES_MAX instances in a service
 * or services in the list (413 TOO_LARGE beyond). A client that goes away frees its slot at once.
 * Errors are JSON `{ error: { code, message, details } }` with the usual codes: 400
 * INVALID_ARGUMENT, 404 (no such route), 405 (not GET), 413 TOO_LARGE, 429 TOO_MANY_REQUESTS, 503
 * TIMEOUT / UNAVAILABLE / SHUTTING_DOWN (no linearizable read possible now: try `?stale`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ChildrenResult, ErrorCode, errorToWire, ExistsResult, GetResult, HikariError, isPlainObject } from '@hikarikeeper/protocol';
import { isServiceStatus, parseInstance, SERVICE_STATUSES, ServiceInstance, serviceNameProblem, SERVICES_ROOT, ServiceStatus } from '@hikarikeeper/client';
import type { WatchSink } from '../watch/watch-hub';

/** Longest `wait` of a blocking query, and its default. */
export const WAIT_MS_MAX = 5 * 60 * 1000;

/** Blocking queries waiting at once on one node, by default. */
export const BLOCKING_QUERIES_MAX_DEFAULT = 1_000;

/** Most names read for one answer (instances of a service, or services). */
export const READ_NAMES_MAX = 10_000;

/** Services whose last change index is remembered; past it they all take the newest one (see ServiceIndexes). */
export const SERVICE_INDEXES_MAX = 100_000;

/** State machine reads done at once for one answer. */
const READS_AT_ONCE = 64;
const PAGE = 1000;
const SERVICES_PREFIX = `${SERVICES_ROOT}/`;

/** What the API reads: the node's applied state and its read points. */
export interface ServicesSource {
  /** A linearizable read point, once this node has applied up to it (RaftRuntime.readBarrier). */
  readBarrier(): Promise<number>;
  /** Local reads then see every write already answered (RaftRuntime.stateBarrier). */
  stateBarrier(): Promise<void>;
  children(path: string, after: string | undefined, limit: number): Promise<ChildrenResult>;
  get(path: string): Promise<GetResult>;
  exists(path: string): Promise<ExistsResult>;
}

/** The node's watch hub, as far as the API uses it. */
export interface WatchRegistrar {
  register(sink: WatchSink, path: string, kind: 'recursive'): { watchId: number; index: number };
  unregister(sink: WatchSink, watchId: number): void;
}

export interface ServicesApiOptions {
  blockingQueriesMax?: number;
  /** For the jitter of `wait` (tests pass `() => 0`). */
  random?: () => number;
}

interface Waiter {
  readonly past: number;
  wake(): void;
}

/** The list's key among the waiters (no service is named with a '/'). */
const LIST = '/';

/**
 * The last change index of each service, and of the list of services, with waiters for them to
 * pass a value. A service not changed since `floor` (where watching began) has index `floor`. Only
 * creations and deletions of instances change the list (counts); any change of an instance changes
 * its service.
 */
export class ServiceIndexes {
  private floor: number;
  private listIndex: number;
  private readonly byService = new Map<string, number>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private waiting = 0;

  constructor(floor: number) {
    this.floor = floor;
    this.listIndex = floor;
  }

  get waitingCount(): number {
    return this.waiting;
  }

  of(service: string): number {
    return Math.max(this.byService.get(service) ?? 0, this.floor);
  }

  get list(): number {
    return this.listIndex;
  }

  /** A change at `index` to `path` (under /services). */
  changed(path: string, index: number, type: string): void {
    if (!path.startsWith(SERVICES_PREFIX)) {
      if (path === SERVICES_ROOT && type !== 'changed') this.raiseList(index);
      return;
    }
    const rest = path.slice(SERVICES_PREFIX.length);
    const slash = rest.indexOf('/');
    const service = slash < 0 ? rest : rest.slice(0, slash);
    if (this.byService.size >= SERVICE_INDEXES_MAX && !this.byService.has(service)) {
      // Forget them all: every service takes the newest index (their waiters wake, and come back).
      this.restart(index);
      return;
    }
    this.byService.set(service, Math.max(this.byService.get(service) ?? 0, index));
    this.wake(service, index);
    if (type !== 'changed') this.raiseList(index);
  }

  /** Nothing is known before `index` any more (the state was replaced): every index is at least `index`. */
  restart(index: number): void {
    this.floor = Math.max(this.floor, index);
    this.listIndex = Math.max(this.listIndex, this.floor);
    this.byService.clear();
    for (const set of this.waiters.values()) for (const waiter of [...set]) waiter.wake();
  }

  /**
   * Resolves once the index of `service` (or of the list, for null) passes `past`, after `waitMs`,
   * or when `signal` aborts, whichever comes first.
   */
  waitPast(service: string | null, past: number, waitMs: number, signal: AbortSignal): Promise<void> {
    const key = service ?? LIST;
    if ((service === null ? this.list : this.of(service)) > past || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const set = this.waiters.get(key) ?? new Set<Waiter>();
      this.waiters.set(key, set);
      this.waiting++;
      const waiter: Waiter = {
        past,
        wake: () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', waiter.wake);
          if (set.delete(waiter)) this.waiting--;
          if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, waitMs);
      signal.addEventListener('abort', waiter.wake, { once: true });
      set.add(waiter);
    });
  }

  /** Wakes every waiter (the API closes). */
  wakeAll(): void {
    for (const set of [...this.waiters.values()]) for (const waiter of [...set]) waiter.wake();
  }

  private raiseList(index: number): void {
    this.listIndex = Math.max(this.listIndex, index);
    this.wake(LIST, index);
  }

  private wake(key: string, index: number): void {
    const set = this.waiters.get(key);
    if (set === undefined) return;
    for (const waiter of [...set]) if (index > waiter.past) waiter.wake();
  }
}

/** A query's parameters, checked. */
interface Query {
  readonly stale: boolean;
  /** Blocking: wait for the index to pass this. */
  readonly index: number | null;
  readonly waitMs: number;
  readonly statuses: ReadonlySet<ServiceStatus> | null;
  readonly tags: readonly string[];
}

export class ServicesApi {
  private readonly indexes: ServiceIndexes;
  private readonly sink: WatchSink;
  private watchId: number;
  private readonly blockingQueriesMax: number;
  private readonly random: () => number;
  private readonly closing = new AbortController();

  constructor(
    private readonly source: ServicesSource,
    private readonly hub: WatchRegistrar,
    options: ServicesApiOptions = {},
  ) {
    this.blockingQueriesMax = options.blockingQueriesMax ?? BLOCKING_QUERIES_MAX_DEFAULT;
    this.random = options.random ?? Math.random;
    this.sink = {
      pushEvent: (kind, data) => {
        if (kind !== 'watch' || !isPlainObject(data)) return;
        const { path, index, type } = data;
        if (typeof path === 'string' && Number.isSafeInteger(index) && typeof type === 'string') this.indexes.changed(path, index as number, type);
      },
      // The hub was reset (a snapshot replaced the state): watch again from the new point.
      close: () => {
        if (this.closing.signal.aborted) return;
        const { watchId, index } = this.hub.register(this.sink, SERVICES_ROOT, 'recursive');
        this.watchId = watchId;
        this.indexes.restart(index);
      },
    };
    const { watchId, index } = hub.register(this.sink, SERVICES_ROOT, 'recursive');
    this.watchId = watchId;
    this.indexes = new ServiceIndexes(index);
  }

  /** Blocking queries waiting now. */
  get blockingQueries(): number {
    return this.indexes.waitingCount;
  }

  /** Whether `path` is this API's. */
  static handles(path: string): boolean {
    return path === '/v1/services' || path.startsWith('/v1/services/');
  }

  /** Answers a request for `url` (a path `handles` accepted). Never throws: errors are answered. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      if (req.method !== 'GET') {
        res.setHeader('allow', 'GET');
        throw httpError(405, 'METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed here; use GET`);
      }
      const query = parseQuery(url.searchParams);
      if (url.pathname === '/v1/services') return await this.list(query, res);
      const name = decodeName(url.pathname.slice('/v1/services/'.length));
      const problem = serviceNameProblem(name);
      if (problem !== null) throw HikariError.invalidArgument('service', `${JSON.stringify(name)} ${problem}`);
      return await this.service(name, query, res);
    } catch (error) {
      return reply(res, statusOf(error), { error: error instanceof HttpError ? error.wire : errorToWire(error) });
    }
  }

  /** Stops: waiting queries answer at once with SHUTTING_DOWN, the hub watch goes. */
  close(): void {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    this.indexes.wakeAll();
    try {
      this.hub.unregister(this.sink, this.watchId);
    } catch {
      // already gone with a reset
    }
  }

  private async list(query: Query, res: ServerResponse): Promise<void> {
    if (!(await this.block(null, query, res))) return;
    const index = this.indexes.list;
    const names = await this.names(SERVICES_ROOT);
    const counted = await inChunks(names.filter((name) => serviceNameProblem(name) === null), async (service) => {
      const found = await this.source.exists(`${SERVICES_PREFIX}${service}`);
      return { service, instances: found?.stat.childrenCount ?? 0 };
    });
    reply(res, 200, { index, services: counted.filter((each) => each.instances > 0) }, index);
  }

  private async service(name: string, query: Query, res: ServerResponse): Promise<void> {
    if (!(await this.block(name, query, res))) return;
    const index = this.indexes.of(name);
    const path = `${SERVICES_PREFIX}${name}`;
    const ids = await this.names(path);
    const found = await inChunks(ids, async (id): Promise<ServiceInstance | null> => {
      try {
        const { data, stat } = await this.source.get(`${path}/${id}`);
        return parseInstance(name, id, data, stat);
      } catch (error) {
        if (HikariError.is(error, ErrorCode.NO_NODE)) return null; // gone since the listing
        throw error;
      }
    });
    const instances = found.filter(
      (each): each is ServiceInstance =>
        each !== null && (query.statuses === null || query.statuses.has(each.status)) && query.tags.every((tag) => each.tags.includes(tag)),
    );
    reply(res, 200, { service: name, index, instances }, index);
  }

  /**
   * The read point, and for a blocking query the wait: false when the client went away meanwhile
   * (nothing to answer).
   */
  private async block(service: string | null, query: Query, res: ServerResponse): Promise<boolean> {
    await this.readPoint(query.stale);
    const current = (): number => (service === null ? this.indexes.list : this.indexes.of(service));
    if (query.index === null || query.waitMs === 0 || current() > query.index) return true;
    if (this.indexes.waitingCount >= this.blockingQueriesMax) {
      throw new HikariError(ErrorCode.TOO_MANY_REQUESTS, { limit: this.blockingQueriesMax }, { message: `${this.blockingQueriesMax} blocking queries already wait on this node` });
    }
    const gone = new AbortController();
    const onGone = (): void => gone.abort();
    res.once('close', onGone); // before an answer: the client went away
    const onClosing = (): void => gone.abort();
    this.closing.signal.addEventListener('abort', onClosing, { once: true });
    try {
      const waitMs = query.waitMs + Math.floor(this.random() * (query.waitMs / 16));
      await this.indexes.waitPast(service, query.index, waitMs, gone.signal);
    } finally {
      res.off('close', onGone);
      this.closing.signal.removeEventListener('abort', onClosing);
    }
    if (this.closing.signal.aborted) throw new HikariError(ErrorCode.SHUTTING_DOWN, {}, { message: 'this node is shutting down' });
    if (gone.signal.aborted || res.destroyed) return false;
    // Woken by a change this node applied: a linearizable answer still needs a read point after it.
    await this.readPoint(query.stale);
    return true;
  }

  private async readPoint(stale: boolean): Promise<void> {
    if (stale) await this.source.stateBarrier();
    else await this.source.readBarrier();
  }

  /** Every child name of `path` (none when it does not exist), at most READ_NAMES_MAX. */
  private async names(path: string): Promise<string[]> {
    const names: string[] = [];
    let after: string | undefined;
    for (;;) {
      let page: ChildrenResult;
      try {
        page = await this.source.children(path, after, PAGE);
      } catch (error) {
        if (HikariError.is(error, ErrorCode.NO_NODE)) return names;
        throw error;
      }
      names.push(...page.names);
      if (names.length > READ_NAMES_MAX) throw HikariError.tooLarge(`children of ${path}`, names.length, READ_NAMES_MAX);
      if (!page.more || page.names.length === 0) return names;
      after = page.names[page.names.length - 1];
    }
  }
}

/** `ServicesApi` over a node's runtime, state machine and watch hub (see hikari-node.ts). */
export function servicesApiFor(
  runtime: { readBarrier(): Promise<number>; stateBarrier(): Promise<void> },
  sm: { children(path: string, after?: string, limit?: number): Promise<ChildrenResult>; get(path: string): Promise<GetResult>; exists(path: string): Promise<ExistsResult> },
  hub: WatchRegistrar,
): ServicesApi {
  return new ServicesApi(
    {
      readBarrier: () => runtime.readBarrier(),
      stateBarrier: () => runtime.stateBarrier(),
      children: (path, after, limit) => sm.children(path, after, limit),
      get: (path) => sm.get(path),
      exists: (path) => sm.exists(path),
    },
    hub,
  );
}

/** An error with an HTTP status of its own (routing errors, which have no HikariError code). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly wire: { code: string; message: string },
  ) {
    super(wire.message);
  }
}

function httpError(status: number, code: string, message: string): HttpError {
  return new HttpError(status, { code, message });
}

function parseQuery(params: URLSearchParams): Query {
  const indexText = params.get('index');
  let index: number | null = null;
  if (indexText !== null) {
    index = /^\d{1,16}$/.test(indexText) ? Number(indexText) : NaN;
    if (!Number.isSafeInteger(index)) throw HikariError.invalidArgument('index', 'must be a non-negative integer (an X-Hikari-Index)');
  }
  const waitText = params.get('wait');
  const waitMs = waitText === null ? WAIT_MS_MAX : Math.min(parseDuration(waitText), WAIT_MS_MAX);
  const staleText = params.get('stale');
  const stale = staleText !== null && staleText !== 'false' && staleText !== '0';
  const statusTexts = params.getAll('status').flatMap((each) => each.split(',')).filter((each) => each !== '');
  for (const status of statusTexts) {
    if (!isServiceStatus(status)) throw HikariError.invalidArgument('status', `${JSON.stringify(status.slice(0, 32))} is not one of ${SERVICE_STATUSES.join(', ')}`);
  }
  const statuses = statusTexts.length === 0 ? null : new Set(statusTexts as ServiceStatus[]);
  const tags = params.getAll('tag');
  if (tags.some((tag) => tag === '')) throw HikariError.invalidArgument('tag', 'must not be empty');
  return { stale, index, waitMs, statuses, tags };
}

/** `30s`, `500ms`, `5m`, or a bare number of seconds; in ms. */
function parseDuration(text: string): number {
  const match = /^(\d{1,9})(ms|s|m)?$/.exec(text);
  if (match === null) throw HikariError.invalidArgument('wait', "must be a duration such as '30s', '500ms' or '5m'");
  const amount = Number(match[1]);
  return match[2] === 'ms' ? amount : match[2] === 'm' ? amount * 60_000 : amount * 1000;
}

function decodeName(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw HikariError.invalidArgument('service', 'is not a valid URL path segment');
  }
}

/** `fn` over `items`, READS_AT_ONCE at a time, in order. */
async function inChunks<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += READS_AT_ONCE) out.push(...(await Promise.all(items.slice(i, i + READS_AT_ONCE).map(fn))));
  return out;
}

function statusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status;
  if (!(error instanceof HikariError)) return 500;
  switch (error.code) {
    case ErrorCode.INVALID_ARGUMENT:
      return 400;
    case ErrorCode.TOO_LARGE:
      return 413;
    case ErrorCode.TOO_MANY_REQUESTS:
      return 429;
    case ErrorCode.TIMEOUT:
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.NO_LEADER:
    case ErrorCode.SHUTTING_DOWN:
    case ErrorCode.NOT_LEADER:
      return 503;
    default:
      return 500;
  }
}

function reply(res: ServerResponse, status: number, body: unknown, index?: number): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (index !== undefined) headers['x-hikari-index'] = String(index);
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}
