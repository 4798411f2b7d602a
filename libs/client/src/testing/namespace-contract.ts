/**
 * The namespace behaviours a client sees — versions, sequential and ephemeral nodes, `multi`,
 * fenced writes, children pages, watches of every kind, elections — as one jest `describe` block
 * run against a real cluster (discovery/discovery.contract.test.ts, on its cluster) and against the
 * in-process MemoryCluster (memory/memory-cluster.contract.test.ts), so that the stand-in cannot
 * drift from the server's rules. Only HikariClientApi is used.
 *
 * This folder is not part of the build: it is imported by test files only.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import type { HikariClientApi } from '../client-api';
import type { WatchEvent } from '../watch';
import { eventually } from '../scripted-peer.test';
import { useContractSubject } from './contract-run';
import { rejection } from './errors';

export interface NamespaceContractSubject {
  /** A new client with a session of its own (closed by `teardown`, or by the suite). */
  connect(): Promise<HikariClientApi>;
  teardown(): Promise<void>;
}

const TEST_MS = 15_000;
const SEEN_MS = 5_000;

export function describeNamespaceContract(title: string, setup: () => Promise<NamespaceContractSubject>): void {
  describe(`${title}: the namespace contract`, () => {
    const { current, unique } = useContractSubject(setup);
    /** A root path of its own for each test. */
    const fresh = (label: string): string => `/ns-${unique(label)}`;
    const connect = (): Promise<HikariClientApi> => current().connect();

    it(
      'create, get, set, delete with versions and stats; the errors of each',
      async () => {
        const c = await connect();
        const root = fresh('crud');
        const { path, stat } = await c.create(root, 'v0');
        expect(path).toBe(root);
        expect(stat).toMatchObject({ version: 0, cversion: 0, childrenCount: 0, dataLength: 2, ephemeralOwner: null });
        expect(stat.modifiedIndex).toBe(stat.createdIndex);
        expect((await rejection(c.create(root, 'again'))).code).toBe(ErrorCode.NODE_EXISTS);
        expect((await rejection(c.create(`${root}/no/parent`, ''))).code).toBe(ErrorCode.NO_NODE);
        const set = await c.set(root, 'v1', { version: 0 });
        expect(set.stat.version).toBe(1);
        expect(set.stat.modifiedIndex).toBeGreaterThan(stat.createdIndex);
        expect((await rejection(c.set(root, 'v2', { version: 0 }))).code).toBe(ErrorCode.BAD_VERSION);
        const read = await c.get(root);
        expect(read.data.toString()).toBe('v1');
        expect(read.stat).toEqual(set.stat);
        await c.create(`${root}/child`, '');
        expect((await c.exists(root))!.stat).toMatchObject({ childrenCount: 1, cversion: 1 });
        expect((await rejection(c.delete(root))).code).toBe(ErrorCode.NOT_EMPTY);
        expect((await rejection(c.delete(`${root}/child`, { version: 3 }))).code).toBe(ErrorCode.BAD_VERSION);
        await c.delete(`${root}/child`, { version: 0 });
        await c.delete(root);
        expect(await c.exists(root)).toBeNull();
        expect((await rejection(c.get(root))).code).toBe(ErrorCode.NO_NODE);
        expect((await rejection(c.delete('/'))).code).toBe(ErrorCode.INVALID_PATH);
        expect((await rejection(c.get('no-slash'))).code).toBe(ErrorCode.INVALID_PATH);
        expect((await rejection(c.create(`${root}x`, '', { ttlMs: 1_000 }))).code).toBe(ErrorCode.INVALID_ARGUMENT);
      },
      TEST_MS,
    );

    it(
      'sequential names count per parent; ephemeral nodes belong to the session, take no children, and go when it closes',
      async () => {
        const [c, other] = await Promise.all([connect(), connect()]);
        const root = fresh('seq');
        await c.create(root, '');
        const a = await c.create(`${root}/job-`, '', { mode: 'persistent_sequential' });
        const b = await c.create(`${root}/job-`, '', { mode: 'ephemeral_sequential' });
        expect(a.path).toBe(`${root}/job-0000000000`);
        expect(b.path).toBe(`${root}/job-0000000001`);
        expect(b.stat.ephemeralOwner).toBe(c.session!.id);
        expect((await rejection(c.create(`${b.path}/x`, ''))).code).toBe(ErrorCode.NO_CHILDREN_FOR_EPHEMERALS);
        await c.create(`${root}/mine`, '', { mode: 'ephemeral' });
        await c.close();
        expect((await other.children(root)).names).toEqual(['job-0000000000']);
      },
      TEST_MS,
    );

    it(
      'multi applies all or nothing; a failing op is named by opIndex',
      async () => {
        const c = await connect();
        const root = fresh('multi');
        await c.create(root, 'r');
        const error = await rejection(
          c.multi([
            { op: 'create', path: `${root}/a`, data: '1' },
            { op: 'set', path: root, data: 'changed' },
            { op: 'check', path: root, version: 7 },
          ]),
        );
        expect(error.code).toBe(ErrorCode.BAD_VERSION);
        expect(error.details.opIndex).toBe(2);
        expect(await c.exists(`${root}/a`)).toBeNull();
        expect((await c.get(root)).data.toString()).toBe('r');
        const { results } = await c.multi([
          { op: 'check', path: root, version: 0 },
          { op: 'create', path: `${root}/a`, data: '1' },
          { op: 'set', path: `${root}/a`, data: '2' },
          { op: 'create', path: `${root}/b-`, mode: 'persistent_sequential' },
          { op: 'delete', path: `${root}/a` },
        ]);
        expect(results.map((result) => result.op)).toEqual(['check', 'create', 'set', 'create', 'delete']);
        expect(results[3]).toMatchObject({ path: `${root}/b-0000000000` });
        expect((await c.children(root)).names).toEqual(['b-0000000000']);
      },
      TEST_MS,
    );

    it(
      "fenced writes apply while the grant is current, and are refused with FENCE_MISMATCH once it is not",
      async () => {
        const [c, other] = await Promise.all([connect(), connect()]);
        const root = fresh('fence');
        const lock = `${root.slice(1)}-lock`;
        await c.create(root, '');
        const grant = await c.locks.acquire(lock);
        await c.set(root, 'by first', { fence: grant });
        await c.create(`${root}/made`, '', { fence: grant });
        await c.locks.release(grant);
        const stale = await rejection(c.set(root, 'late', { fence: grant }));
        expect(stale.code).toBe(ErrorCode.FENCE_MISMATCH);
        expect(stale.details.opIndex).toBe(0);
        const next = await other.locks.acquire(lock);
        await other.set(root, 'by second', { fence: { lock, token: next.token } });
        expect((await rejection(c.delete(`${root}/made`, { fence: grant }))).code).toBe(ErrorCode.FENCE_MISMATCH);
        expect((await c.get(root)).data.toString()).toBe('by second');
        await other.locks.release(next);
      },
      TEST_MS,
    );

    it(
      'children come in pages (after, limit, more), with their data on request',
      async () => {
        const c = await connect();
        const root = fresh('pages');
        await c.create(root, '');
        for (const name of ['c', 'a', 'e', 'b', 'd']) await c.create(`${root}/${name}`, name.toUpperCase());
        const first = await c.children(root, { limit: 2 });
        expect(first).toMatchObject({ names: ['a', 'b'], more: true });
        expect(first.stat.childrenCount).toBe(5);
        const rest = await c.children(root, { after: 'b', limit: 10, data: true });
        expect(rest).toMatchObject({ names: ['c', 'd', 'e'], more: false });
        expect(rest.children!.map((child) => [child.name, Buffer.from(child.data).toString()])).toEqual([['c', 'C'], ['d', 'D'], ['e', 'E']]);
        const all: string[] = [];
        for await (const name of c.listChildren(root, { pageSize: 2 })) all.push(name);
        expect(all).toEqual(['a', 'b', 'c', 'd', 'e']);
      },
      TEST_MS,
    );

    it(
      'watches of every kind see their changes in index order; a watch from an index replays what followed it',
      async () => {
        const [c, w] = await Promise.all([connect(), connect()]);
        const root = fresh('watch');
        const lock = `${root.slice(1)}-lock`;
        const { stat } = await c.create(root, '');
        const seen = { data: [] as WatchEvent[], children: [] as WatchEvent[], recursive: [] as WatchEvent[], lock: [] as WatchEvent[], replay: [] as WatchEvent[] };
        const watches = [
          w.watch(root, { kind: 'data' }),
          w.watch(root, { kind: 'children' }),
          w.watch(root, { kind: 'recursive' }),
          w.watch(lock, { kind: 'lock' }),
        ];
        watches.forEach((watch, i) => watch.on('event', (event) => seen[(['data', 'children', 'recursive', 'lock'] as const)[i]!].push(event)));
        await Promise.all(watches.map((watch) => watch.ready));
        await c.create(`${root}/a`, '');
        await c.set(`${root}/a`, 'x');
        await c.set(root, 'y');
        await c.delete(`${root}/a`);
        const grant = await c.locks.acquire(lock);
        await c.locks.release(grant);
        await eventually(() => seen.recursive.length === 4 && seen.lock.length === 2, SEEN_MS, 'the watches to see every change', () => JSON.stringify(seen));
        const kinds = (events: WatchEvent[]): string[] => events.map((event) => `${event.type} ${event.path}`);
        expect(kinds(seen.data)).toEqual([`changed ${root}`]);
        expect(kinds(seen.children)).toEqual([`created ${root}/a`, `deleted ${root}/a`]);
        expect(kinds(seen.recursive)).toEqual([`created ${root}/a`, `changed ${root}/a`, `changed ${root}`, `deleted ${root}/a`]);
        expect(kinds(seen.lock)).toEqual([`changed ${lock}`, `changed ${lock}`]);
        for (let i = 1; i < seen.recursive.length; i++) expect(seen.recursive[i]!.index).toBeGreaterThan(seen.recursive[i - 1]!.index);
        // From the root's creation: the same four changes again.
        const replay = w.watch(root, { kind: 'recursive', fromIndex: stat.createdIndex });
        replay.on('event', (event) => seen.replay.push(event));
        await eventually(() => seen.replay.length === 4, SEEN_MS, 'the replay');
        expect(seen.replay).toEqual(seen.recursive);
        for (const watch of [...watches, replay]) watch.close();
      },
      TEST_MS,
    );

    it(
      'elections: one leader with its value, observed by others; the next candidate when it resigns, with a greater token',
      async () => {
        const [a, b, observer] = await Promise.all([connect(), connect(), connect()]);
        const name = fresh('election').slice(1);
        const first = await a.election(name).campaign('a:1');
        const second = b.election(name);
        const electedB = second.campaign('b:1');
        const leaders: Array<string | null> = [];
        const stop = new AbortController();
        const observing = (async () => {
          for await (const leader of observer.election(name).observe({ signal: stop.signal })) leaders.push(leader?.value.toString() ?? null);
        })();
        await eventually(() => leaders.length === 1, SEEN_MS, 'the first leader');
        expect(leaders).toEqual(['a:1']);
        const info = await observer.election(name).leader();
        expect(info).toMatchObject({ token: first.token, sessionId: a.session!.id });
        await a.close(); // the leader's session ends: the next candidate leads at once
        expect((await electedB).token).toBeGreaterThan(first.token);
        await eventually(() => leaders.at(-1) === 'b:1', SEEN_MS, 'the new leader observed');
        await second.resign();
        await eventually(() => leaders.at(-1) === null, SEEN_MS, 'no leader observed');
        stop.abort();
        await observing;
        let refused: unknown = null;
        try {
          b.election('');
        } catch (error) {
          refused = error;
        }
        expect(HikariError.is(refused, ErrorCode.INVALID_ARGUMENT)).toBe(true);
      },
      TEST_MS,
    );
  });
}
