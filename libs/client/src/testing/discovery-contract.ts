/**
 * The behaviours of service discovery that every backend must have, as one jest `describe` block
 * run against a real cluster (discovery/discovery.contract.test.ts) and against the in-process
 * MemoryCluster (memory/memory-cluster.contract.test.ts), so that the stand-in cannot drift:
 *
 * ```ts
 * describeDiscoveryContract('a real 3-node cluster', async () => ({ connect, expireSession, teardown }));
 * ```
 *
 * Only the public API of `client.discovery` is used (plus `get` of a record, to see whose it is).
 * `setup` runs before every test and `teardown` after it; every test uses service names of its own.
 *
 * This folder is not part of the build: it is imported by test files only.
 */
import { ErrorCode } from '@hikarikeeper/protocol';
import type { HikariClientApi } from '../client-api';
import { instancePath } from '../discovery/record';
import type { RegisteredEvent } from '../discovery/instance-handle';
import type { ServiceUpdate } from '../discovery/service-watch';
import { eventually } from '../scripted-peer.test';
import { useContractSubject } from './contract-run';
import { rejection } from './errors';

export interface DiscoveryContractSubject {
  /** A new client of the backend, with a session of its own (closed by the suite, or by `teardown`). */
  connect(): Promise<HikariClientApi>;
  /**
   * Ends `client`'s session as an expiry does (the cluster: after a silence past its timeout), and
   * resolves once the client is on a new session.
   */
  expireSession(client: HikariClientApi): Promise<void>;
  teardown(): Promise<void>;
}

/** Fails a test that would otherwise hang well before jest's own timeout. */
const TEST_MS = 15_000;
/** Longest wait for a watch or a cache to show a change. */
const SEEN_MS = 5_000;

const ids = (instances: readonly { id: string }[] | undefined): string | undefined => instances?.map((instance) => instance.id).join(',');

export function describeDiscoveryContract(title: string, setup: () => Promise<DiscoveryContractSubject>): void {
  describe(`${title}: the discovery contract`, () => {
    const { current: backend, unique } = useContractSubject(setup);
    /** A service name no other test (nor an earlier run against the same cluster) uses. */
    const fresh = (label: string): string => `c${unique(label)}`;

    it(
      'register writes a record others read: the instance with its fields, an ephemeral node of the session, counted by services()',
      async () => {
        const [owner, reader] = await Promise.all([backend().connect(), backend().connect()]);
        const service = fresh('orders');
        await owner.discovery.register({ service, id: 'o-1', host: '10.1.0.1', port: 8080, protocol: 'http', tags: ['v1', 'eu'], metadata: { zone: 'a' }, weight: 3 });
        await owner.discovery.register({ service, id: 'o-2', host: 'fe80::1', port: 8081, status: 'warning' });
        const all = await reader.discovery.instances(service);
        expect(ids(all)).toBe('o-1,o-2');
        expect(all[0]).toMatchObject({
          service, id: 'o-1', host: '10.1.0.1', port: 8080, address: '10.1.0.1:8080', protocol: 'http', tags: ['v1', 'eu'],
          metadata: { zone: 'a' }, weight: 3, status: 'passing', sessionId: owner.session!.id,
        });
        expect(all[1]).toMatchObject({ address: '[fe80::1]:8081', protocol: null, tags: [], metadata: {}, weight: 1, status: 'warning' });
        expect(all[0]!.modifiedIndex).toBeGreaterThanOrEqual(all[0]!.createdIndex);
        const { stat } = await reader.get(instancePath(service, 'o-1'));
        expect(stat.ephemeralOwner).toBe(owner.session!.id);
        expect(await reader.discovery.services()).toEqual(expect.arrayContaining([{ service, instances: 2 }]));
      },
      TEST_MS,
    );

    it(
      'instances() filters by status (one or a list) and by tags (all of them); stale reads agree once synced',
      async () => {
        const [owner, reader] = await Promise.all([backend().connect(), backend().connect()]);
        const service = fresh('filters');
        await owner.discovery.register({ service, id: 'a', host: 'h', port: 1, tags: ['v1', 'eu'] });
        await owner.discovery.register({ service, id: 'b', host: 'h', port: 2, tags: ['v1'], status: 'warning' });
        await owner.discovery.register({ service, id: 'c', host: 'h', port: 3, tags: ['v2'], status: 'critical' });
        expect(ids(await reader.discovery.instances(service, { status: 'passing' }))).toBe('a');
        expect(ids(await reader.discovery.instances(service, { status: ['passing', 'warning'] }))).toBe('a,b');
        expect(ids(await reader.discovery.instances(service, { tags: ['v1'] }))).toBe('a,b');
        expect(ids(await reader.discovery.instances(service, { tags: ['v1', 'eu'] }))).toBe('a');
        expect(ids(await reader.discovery.instances(service, { tags: ['v1'], status: 'warning' }))).toBe('b');
        expect(await reader.discovery.instances(service, { tags: ['none'] })).toEqual([]);
        await reader.sync();
        expect(ids(await reader.discovery.instances(service, { stale: true }))).toBe('a,b,c');
      },
      TEST_MS,
    );

    it(
      'update changes what readers see (a field left out keeps its value); deregister removes the record; the id may then register again',
      async () => {
        const [owner, reader] = await Promise.all([backend().connect(), backend().connect()]);
        const service = fresh('update');
        const handle = await owner.discovery.register({ service, id: 'u-1', host: 'h', port: 1, tags: ['v1'], metadata: { zone: 'a' } });
        expect(handle.state).toBe('registered');
        await handle.update({ status: 'maintenance', metadata: { zone: 'b' }, weight: 7 });
        expect((await reader.discovery.instances(service))[0]).toMatchObject({ status: 'maintenance', metadata: { zone: 'b' }, weight: 7, tags: ['v1'] });
        expect(await reader.discovery.instances(service, { status: 'passing' })).toEqual([]);
        const again = await rejection(owner.discovery.register({ service, id: 'u-1', host: 'h', port: 1 }));
        expect(again.code).toBe(ErrorCode.NODE_EXISTS); // this client has a live handle for it
        await handle.deregister();
        expect(handle.state).toBe('deregistered');
        expect(await reader.discovery.instances(service)).toEqual([]);
        expect(await reader.exists(instancePath(service, 'u-1'))).toBeNull();
        await owner.discovery.register({ service, id: 'u-1', host: 'h2', port: 2 });
        expect((await reader.discovery.instances(service))[0]).toMatchObject({ host: 'h2', status: 'passing', tags: [] });
      },
      TEST_MS,
    );

    it(
      'a watch gives the full list at once, then at every change, with growing indexes; a cache and pick follow it',
      async () => {
        const [owner, reader] = await Promise.all([backend().connect(), backend().connect()]);
        const service = fresh('watch');
        const watch = reader.discovery.watch(service, { debounceMs: 10 });
        const updates: ServiceUpdate[] = [];
        watch.on('update', (update) => updates.push(update));
        await eventually(() => updates.length === 1, SEEN_MS, 'the first list');
        expect(updates[0]).toMatchObject({ service, instances: [] });
        const cache = await reader.discovery.cache(service);
        try {
          const one = await owner.discovery.register({ service, id: 'w-1', host: 'h', port: 1 });
          await eventually(() => ids(updates.at(-1)?.instances) === 'w-1', SEEN_MS, 'w-1 in the watch');
          await owner.discovery.register({ service, id: 'w-2', host: 'h', port: 2 });
          await eventually(() => ids(updates.at(-1)?.instances) === 'w-1,w-2', SEEN_MS, 'both in the watch');
          await one.update({ status: 'critical' });
          await eventually(() => updates.at(-1)?.instances[0]?.status === 'critical', SEEN_MS, 'the update in the watch');
          await eventually(() => cache.instances({ status: 'passing' }).map((i) => i.id).join() === 'w-2', SEEN_MS, 'the cache to follow');
          for (let i = 0; i < 4; i++) {
            const picked = await reader.discovery.pick(service);
            expect(picked?.instance.id).toBe('w-2'); // only passing instances are picked
            picked?.release();
          }
          await one.deregister();
          await eventually(() => ids(updates.at(-1)?.instances) === 'w-2', SEEN_MS, 'the deregistration in the watch');
          for (let i = 1; i < updates.length; i++) expect(updates[i]!.index).toBeGreaterThan(updates[i - 1]!.index);
          await eventually(() => ids(cache.instances()) === 'w-2', SEEN_MS, 'the cache to drop w-1');
        } finally {
          watch.close();
          cache.close();
        }
      },
      TEST_MS,
    );

    it(
      "closing the owner's client removes its records at once; watchers see them go",
      async () => {
        const [owner, reader] = await Promise.all([backend().connect(), backend().connect()]);
        const service = fresh('close');
        const watch = reader.discovery.watch(service, { debounceMs: 10 });
        const updates: ServiceUpdate[] = [];
        watch.on('update', (update) => updates.push(update));
        try {
          await owner.discovery.register({ service, id: 'c-1', host: 'h', port: 1 });
          await owner.discovery.register({ service, id: 'c-2', host: 'h', port: 2 });
          await eventually(() => ids(updates.at(-1)?.instances) === 'c-1,c-2', SEEN_MS, 'both in the watch');
          await owner.close();
          expect(await reader.discovery.instances(service)).toEqual([]);
          await eventually(() => updates.at(-1)?.instances.length === 0, SEEN_MS, 'the watch to see them go');
          expect((await reader.discovery.services()).find((each) => each.service === service)).toBeUndefined();
        } finally {
          watch.close();
        }
      },
      TEST_MS,
    );

    it(
      "a session expiry removes the session's records (ephemeral nodes); a handle writes its record again on the new session by itself",
      async () => {
        const [owner, reader] = await Promise.all([backend().connect(), backend().connect()]);
        const service = fresh('expiry');
        const handle = await owner.discovery.register({ service, id: 'e-1', host: 'h', port: 1, metadata: { build: 7 } });
        // A record nobody writes again: gone with the session, as the registration is until written again.
        const marker = `/${service}-marker`;
        await owner.create(marker, '', { mode: 'ephemeral' });
        const heard: RegisteredEvent[] = [];
        handle.on('registered', (event) => heard.push(event));
        const watch = reader.discovery.watch(service, { debounceMs: 10 });
        const updates: ServiceUpdate[] = [];
        watch.on('update', (update) => updates.push(update));
        try {
          await eventually(() => ids(updates.at(-1)?.instances) === 'e-1', SEEN_MS, 'e-1 in the watch');
          const before = owner.session!.id;
          await backend().expireSession(owner);
          expect(owner.session!.id).not.toBe(before);
          expect(await reader.exists(marker)).toBeNull();
          await eventually(() => heard.length === 1, SEEN_MS, 'the registration on the new session');
          expect(heard[0]).toMatchObject({ reason: 'session-expired', sessionId: owner.session!.id });
          const [instance] = await reader.discovery.instances(service);
          expect(instance).toMatchObject({ id: 'e-1', sessionId: owner.session!.id, metadata: { build: 7 }, status: 'passing' });
          expect(handle.state).toBe('registered');
          // The watch saw the record go with the old session, then come back: it never lists it twice.
          await eventually(() => updates.at(-1)?.instances[0]?.sessionId === owner.session!.id, SEEN_MS, 'the watch to see the new record');
          expect(updates.every((update) => update.instances.length <= 1)).toBe(true);
        } finally {
          watch.close();
        }
      },
      TEST_MS,
    );

    it(
      'bad input is refused with INVALID_ARGUMENT and writes nothing',
      async () => {
        const [owner, reader] = await Promise.all([backend().connect(), backend().connect()]);
        const service = fresh('bad');
        for (const options of [
          { service, host: 'h', port: 0 },
          { service, host: 'h', port: 1, weight: 0 },
          { service: '-bad', host: 'h', port: 1 },
          { service, id: 'a/b', host: 'h', port: 1 },
          { service, host: '', port: 1 },
        ]) {
          expect((await rejection(owner.discovery.register(options))).code).toBe(ErrorCode.INVALID_ARGUMENT);
        }
        expect((await rejection(reader.discovery.instances('bad name'))).code).toBe(ErrorCode.INVALID_ARGUMENT);
        expect(await reader.discovery.instances(service)).toEqual([]);
      },
      TEST_MS,
    );
  });
}
