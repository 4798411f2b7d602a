/**
 * The behaviours every `LockDriver` must have, as one jest `describe` block that each driver's tests
 * run against their own setup (the Redis driver against ioredis-mock and a real redis-server; the
 * cluster driver against a cluster):
 *
 * ```ts
 * describeLockContract('RedisLockDriver', async () => ({ driver, second, expireHolder, teardown }), {
 *   shared: false, semaphore: false, fifo: false, reentrant: false, expireHolder: true,
 * });
 * ```
 *
 * Only the public interface is used: `LockDriver`, `DistributedLock`, `withLock`. `setup` runs before
 * every test and `teardown` after it (start servers once, outside, in `beforeAll`); every test uses
 * lock names of its own, so a test that fails midway cannot disturb the next one.
 *
 * Capabilities are given up front, not by `setup`: jest registers (or skips) tests synchronously,
 * before any `beforeEach` has run. A capability the driver lacks skips its test and adds one that
 * checks the driver refuses the feature with INVALID_ARGUMENT, rather than silently granting
 * something else (FIFO has nothing to refuse).
 *
 * This folder is not part of the build: it is imported by test files only.
 */
import { ErrorCode } from '@hikarikeeper/protocol';
import { DistributedLock, withLock } from '../locks/lock';
import type { AcquireOptions, LockDriver, LockGrant } from '../locks/types';
import { useContractSubject } from './contract-run';
import { rejection } from './errors';

export interface LockCapabilities {
  /** `mode: 'shared'`: read-write locks. */
  shared: boolean;
  /** `permits` > 1. */
  semaphore: boolean;
  /** Queued waiters are granted in the order they asked. */
  fifo: boolean;
  /** `reentrant: true`, counted. */
  reentrant: boolean;
  /** The setup provides `expireHolder` (not a driver feature: a test hook). */
  expireHolder: boolean;
}

export interface LockContractSubject {
  driver: LockDriver;
  /** Another client of the same service: a different owner than `driver`. */
  second: LockDriver;
  /**
   * Makes `grant`'s holder lose it as if it had stalled past its lease or session (Redis: the key is
   * deleted; cluster: the session is closed). Required when `capabilities.expireHolder` is true.
   */
  expireHolder?: (grant: LockGrant) => Promise<void>;
  teardown(): Promise<void>;
}

export interface LockContractOptions {
  /**
   * Size of the mutual exclusion test: workers (alternating between the two clients) × rounds each.
   * Default 8 × 20. Only for a slow stand-in server (ioredis-mock runs every Lua script in a new VM,
   * ~10 ms under jest); a real server takes the default.
   */
  mutexWorkers?: number;
  mutexRounds?: number;
}

/** Fails a test that would otherwise hang (a lost wake-up, a deadlock) well before jest's own timeout. */
const TEST_MS = 10_000;

export function describeLockContract(
  title: string,
  setup: () => Promise<LockContractSubject>,
  capabilities: LockCapabilities,
  options: LockContractOptions = {},
): void {
  const { mutexWorkers = 8, mutexRounds = 20 } = options;
  describe(`${title}: the LockDriver contract`, () => {
    const { current: clients, unique } = useContractSubject(setup);
    /** A lock name no other test (nor an earlier run against the same server) uses. */
    const fresh = (label: string): string => `contract/${unique(label)}`;

    it(
      'acquires and releases: the grant names the lock, carries a token, and frees the lock when released',
      async () => {
        const { driver, second } = clients();
        const name = fresh('basic');
        const grant = await driver.acquire(name);
        expect(grant.name).toBe(name);
        expect(grant.mode).toBe('exclusive');
        expect(Number.isSafeInteger(grant.token) && grant.token >= 1).toBe(true);
        expect(await second.tryAcquire(name)).toBeNull();
        await driver.release(grant);
        const next = await second.tryAcquire(name);
        expect(next).not.toBeNull();
        await second.release(next!);
      },
      TEST_MS,
    );

    it(
      'tryAcquire answers null at once while the other client holds the lock, and a grant once it is free',
      async () => {
        const { driver, second } = clients();
        const name = fresh('try');
        const grant = await driver.tryAcquire(name);
        expect(grant).not.toBeNull();
        expect(await second.tryAcquire(name)).toBeNull();
        expect(await second.tryAcquire(name)).toBeNull();
        await driver.release(grant!);
        const next = await second.tryAcquire(name);
        expect(next?.name).toBe(name);
        expect(next!.token).toBeGreaterThan(grant!.token);
        await second.release(next!);
      },
      TEST_MS,
    );

    it(
      'fencing tokens strictly increase per name across grants, whichever client holds them',
      async () => {
        const { driver, second } = clients();
        const name = fresh('tokens');
        const other = fresh('tokens-other');
        const tokens: number[] = [];
        for (let i = 0; i < 8; i++) {
          const d = i % 2 === 0 ? driver : second;
          const grant = i % 3 === 0 ? await d.acquire(name) : await d.tryAcquire(name);
          expect(grant).not.toBeNull();
          tokens.push(grant!.token);
          // Grants of another name in between change nothing about this name's order.
          const unrelated = await (i % 2 === 0 ? second : driver).acquire(other);
          await (i % 2 === 0 ? second : driver).release(unrelated);
          await d.release(grant!);
        }
        expectIncreasing(tokens);
      },
      TEST_MS,
    );

    it(
      'a wait past waitMs fails with LOCK_TIMEOUT and leaves nothing behind',
      async () => {
        const { driver, second } = clients();
        const name = fresh('timeout');
        const holder = await driver.acquire(name);
        const started = Date.now();
        const error = await rejection(second.acquire(name, { waitMs: 150 }));
        expect(error.code).toBe(ErrorCode.LOCK_TIMEOUT);
        expect(error.details.name).toBe(name);
        expect(Date.now() - started).toBeGreaterThanOrEqual(140); // it did wait (timers may fire a little early)
        await driver.release(holder);
        // No waiter is left queued: the lock is free for anyone at once, then for the one that gave up.
        const next = await driver.tryAcquire(name);
        expect(next).not.toBeNull();
        await driver.release(next!);
        const late = await second.tryAcquire(name);
        expect(late).not.toBeNull();
        await second.release(late!);
      },
      TEST_MS,
    );

    it(
      'waitMs 0 does not wait: LOCK_TIMEOUT when the lock is taken, a grant when it is free',
      async () => {
        const { driver, second } = clients();
        const name = fresh('wait0');
        const holder = await driver.acquire(name);
        expect((await rejection(second.acquire(name, { waitMs: 0 }))).code).toBe(ErrorCode.LOCK_TIMEOUT);
        await driver.release(holder);
        const grant = await second.acquire(name, { waitMs: 0 });
        expect(grant.token).toBeGreaterThan(holder.token);
        await second.release(grant);
      },
      TEST_MS,
    );

    it(
      'aborting a wait fails it with CANCELLED and leaves nothing behind',
      async () => {
        const { driver, second } = clients();
        const name = fresh('abort');
        const holder = await driver.acquire(name);
        const controller = new AbortController();
        const waiting = second.acquire(name, { signal: controller.signal });
        setTimeout(() => controller.abort(), 100);
        expect((await rejection(waiting)).code).toBe(ErrorCode.CANCELLED);
        await driver.release(holder);
        const next = await driver.tryAcquire(name);
        expect(next).not.toBeNull();
        await driver.release(next!);
      },
      TEST_MS,
    );

    it(
      'a signal aborted before the call fails it with CANCELLED, even when the lock is free, and takes nothing',
      async () => {
        const { driver, second } = clients();
        const name = fresh('pre-aborted');
        expect((await rejection(second.acquire(name, { signal: AbortSignal.abort() }))).code).toBe(ErrorCode.CANCELLED);
        const grant = await driver.tryAcquire(name);
        expect(grant).not.toBeNull();
        await driver.release(grant!);
      },
      TEST_MS,
    );

    it(
      'releasing a grant twice fails with LOCK_NOT_HELD',
      async () => {
        const { driver } = clients();
        const name = fresh('twice');
        const grant = await driver.acquire(name);
        await driver.release(grant);
        const error = await rejection(driver.release(grant));
        expect(error.code).toBe(ErrorCode.LOCK_NOT_HELD);
      },
      TEST_MS,
    );

    it(
      "a client cannot release the other client's grant: the call fails and the lock stays held",
      async () => {
        const { driver, second } = clients();
        const name = fresh('foreign');
        const grant = await driver.acquire(name);
        const error = await rejection(second.release(grant));
        expect([ErrorCode.LOCK_NOT_HELD, ErrorCode.FENCE_MISMATCH]).toContain(error.code);
        expect(await second.tryAcquire(name)).toBeNull();
        await driver.release(grant);
      },
      TEST_MS,
    );

    gated(capabilities.expireHolder)(
      'releasing a grant whose holder was replaced (lease or session gone) fails, and leaves the new holder alone',
      async () => {
        const { driver, second, expireHolder } = clients();
        if (expireHolder === undefined) throw new Error('capabilities.expireHolder is true, but the setup gave no expireHolder');
        const name = fresh('replaced');
        const stale = await driver.acquire(name);
        await expireHolder(stale);
        const current = await second.acquire(name, { waitMs: 2_000 });
        expect(current.token).toBeGreaterThan(stale.token);
        const error = await rejection(driver.release(stale));
        expect([ErrorCode.LOCK_NOT_HELD, ErrorCode.FENCE_MISMATCH]).toContain(error.code);
        expect(await driver.tryAcquire(name)).toBeNull(); // the new grant survived the stale release
        await second.release(current);
      },
      TEST_MS,
    );

    it(
      'withLock returns what fn returns and releases; when fn throws, it releases and throws that error',
      async () => {
        const { driver, second } = clients();
        const name = fresh('with');
        let seen: LockGrant | null = null;
        const value = await withLock(driver, name, async (grant) => {
          seen = grant;
          expect(await second.tryAcquire(name)).toBeNull(); // held while fn runs
          return 42;
        });
        expect(value).toBe(42);
        expect(seen!.name).toBe(name);
        const failure = new Error('boom');
        await expect(withLock(driver, name, () => Promise.reject(failure))).rejects.toBe(failure);
        await expect(
          withLock(driver, name, () => {
            throw failure;
          }),
        ).rejects.toBe(failure);
        const next = await second.tryAcquire(name);
        expect(next).not.toBeNull();
        expect(next!.token).toBeGreaterThan(seen!.token);
        await second.release(next!);
      },
      TEST_MS,
    );

    it(
      `mutual exclusion: ${mutexWorkers} workers × ${mutexRounds} rounds on two clients never overlap, lose no update, and see tokens increase in grant order`,
      async () => {
        const { driver, second } = clients();
        const name = fresh('mutex');
        const WORKERS = mutexWorkers;
        const ROUNDS = mutexRounds;
        let inside = false;
        let overlaps = 0;
        let counter = 0;
        const tokens: number[] = [];
        const worker = async (w: number): Promise<void> => {
          const d = w % 2 === 0 ? driver : second;
          for (let i = 0; i < ROUNDS; i++) {
            // waitMs: if the lock is never handed over, the workers give up rather than outlive the test.
            await withLock(d, name, async (grant) => {
              if (inside) overlaps++;
              inside = true;
              tokens.push(grant.token);
              const read = counter;
              await new Promise((resolve) => setImmediate(resolve)); // let anyone else who thinks they hold it run
              counter = read + 1;
              inside = false;
            }, { waitMs: TEST_MS });
          }
        };
        await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
        expect(overlaps).toBe(0);
        expect(counter).toBe(WORKERS * ROUNDS);
        expect(tokens).toHaveLength(WORKERS * ROUNDS);
        expectIncreasing(tokens);
      },
      TEST_MS,
    );

    it(
      'DistributedLock exposes the token and whether it is held, and refuses a second acquire of the same object',
      async () => {
        const { driver, second } = clients();
        const name = fresh('object');
        const lock = new DistributedLock(driver, name);
        const rival = new DistributedLock(second, name);
        expect(lock.held).toBe(false);
        expect(lock.token).toBeNull();
        const token = await lock.acquire();
        expect(lock.held).toBe(true);
        expect(lock.token).toBe(token);
        expect(lock.mode).toBe('exclusive');
        expect((await rejection(lock.acquire())).code).toBe(ErrorCode.INVALID_ARGUMENT);
        expect(await rival.tryAcquire()).toBe(false);
        expect(rival.held).toBe(false);
        await lock.release();
        expect(lock.held).toBe(false);
        expect(lock.token).toBeNull();
        expect((await rejection(lock.release())).code).toBe(ErrorCode.LOCK_NOT_HELD);
        expect(await rival.tryAcquire()).toBe(true);
        expect(rival.token).toBeGreaterThan(token);
        await rival.release();
      },
      TEST_MS,
    );

    it(
      'invalid lock names fail with INVALID_ARGUMENT; a name of 256 bytes is fine',
      async () => {
        const { driver } = clients();
        const bad: unknown[] = ['', 'a\nb', 'tab\there', 'del\u007f', 'x'.repeat(257), 'é'.repeat(129), 42, null];
        for (const name of bad) {
          for (const call of [() => driver.acquire(name as string, { waitMs: 0 }), () => driver.tryAcquire(name as string)]) {
            const error = await rejection(call());
            expect({ name, code: error.code }).toEqual({ name, code: ErrorCode.INVALID_ARGUMENT });
          }
        }
        const base = fresh('long-');
        const longest = base + 'é'.repeat((256 - Buffer.byteLength(base)) >> 1) + (Buffer.byteLength(base) % 2 === 0 ? '' : 'x');
        expect(Buffer.byteLength(longest)).toBe(256);
        const grant = await driver.acquire(longest);
        expect(grant.name).toBe(longest);
        await driver.release(grant);
      },
      TEST_MS,
    );

    // ---------------------------------------------------------- capabilities

    gated(capabilities.shared)(
      'shared: readers of both clients hold the lock together; a writer waits for all of them',
      async () => {
        const { driver, second } = clients();
        const name = fresh('shared');
        const r1 = await driver.acquire(name, { mode: 'shared' });
        const r2 = await second.acquire(name, { mode: 'shared', waitMs: 1_000 });
        expect([r1.mode, r2.mode]).toEqual(['shared', 'shared']);
        expect(await driver.tryAcquire(name)).toBeNull();
        const writer = second.acquire(name);
        expect(await settlesWithin(writer, 100)).toBe(false);
        await driver.release(r1);
        expect(await settlesWithin(writer, 100)).toBe(false);
        await second.release(r2);
        const w = await writer;
        expect(w.mode).toBe('exclusive');
        expect(w.token).toBeGreaterThan(Math.max(r1.token, r2.token));
        expect(await driver.tryAcquire(name, { mode: 'shared' })).toBeNull();
        await second.release(w);
      },
      TEST_MS,
    );
    gated(capabilities.shared)(
      'shared: a reader that comes while a writer waits queues behind the writer (writers are not starved)',
      async () => {
        const { driver, second } = clients();
        const name = fresh('no-starvation');
        const reader = await driver.acquire(name, { mode: 'shared' });
        const writer = second.acquire(name);
        expect(await settlesWithin(writer, 100)).toBe(false);
        expect(await second.tryAcquire(name, { mode: 'shared' })).toBeNull(); // it would overtake the writer
        const late = driver.acquire(name, { mode: 'shared' });
        expect(await settlesWithin(late, 100)).toBe(false);
        await driver.release(reader);
        const w = await writer;
        expect(await settlesWithin(late, 100)).toBe(false);
        await second.release(w);
        const r = await late;
        expect(r.token).toBeGreaterThan(w.token);
        await driver.release(r);
      },
      TEST_MS,
    );
    refused(!capabilities.shared, 'mode', { mode: 'shared' });

    gated(capabilities.semaphore)(
      'semaphore: permits 3 admits 3 holders, the 4th waits until one leaves',
      async () => {
        const { driver, second } = clients();
        const name = fresh('semaphore');
        const opts = { permits: 3 };
        const held = [await driver.tryAcquire(name, opts), await second.tryAcquire(name, opts), await driver.tryAcquire(name, opts)];
        expect(held.every((g) => g !== null)).toBe(true);
        expectIncreasing(held.map((g) => g!.token));
        expect(await second.tryAcquire(name, opts)).toBeNull();
        const fourth = second.acquire(name, opts);
        expect(await settlesWithin(fourth, 100)).toBe(false);
        await second.release(held[1]!);
        const g4 = await fourth;
        expect(g4.token).toBeGreaterThan(held[2]!.token);
        await driver.release(held[0]!);
        await driver.release(held[2]!);
        await second.release(g4);
      },
      TEST_MS,
    );
    refused(!capabilities.semaphore, 'permits', { permits: 3 });

    gated(capabilities.fifo)(
      'FIFO: queued waiters of both clients are granted in the order they asked',
      async () => {
        const { driver, second } = clients();
        const name = fresh('fifo');
        const holder = await driver.acquire(name);
        const order: number[] = [];
        const waiters: Promise<LockGrant>[] = [];
        for (let i = 0; i < 4; i++) {
          const d = i % 2 === 0 ? second : driver;
          waiters.push(
            d.acquire(name).then((grant) => {
              order.push(i);
              return grant;
            }),
          );
          await settlesWithin(waiters[i]!, 100); // time for the request to be queued before the next one
        }
        expect(order).toEqual([]);
        await driver.release(holder);
        const tokens: number[] = [];
        for (let i = 0; i < 4; i++) {
          const grant = await waiters[i]!;
          tokens.push(grant.token);
          await (i % 2 === 0 ? second : driver).release(grant);
        }
        expect(order).toEqual([0, 1, 2, 3]);
        expectIncreasing([holder.token, ...tokens]);
      },
      TEST_MS,
    );

    gated(capabilities.reentrant)(
      'reentrant: the holder takes the lock again at once with the same token; each release undoes one acquire',
      async () => {
        const { driver, second } = clients();
        const name = fresh('reentrant');
        const first = await driver.acquire(name, { reentrant: true });
        const again = await driver.acquire(name, { reentrant: true, waitMs: 0 });
        expect(again.token).toBe(first.token);
        await driver.release(first);
        expect(await second.tryAcquire(name)).toBeNull(); // still held once
        await driver.release(again);
        const next = await second.tryAcquire(name);
        expect(next).not.toBeNull();
        await second.release(next!);
      },
      TEST_MS,
    );
    refused(!capabilities.reentrant, 'reentrant', { reentrant: true });

    /** When the driver lacks a capability: asking for it fails with INVALID_ARGUMENT naming `field`, and takes nothing. */
    function refused(lacking: boolean, field: string, options: AcquireOptions): void {
      if (!lacking) return;
      it(
        `refuses ${JSON.stringify(options)} with INVALID_ARGUMENT (not supported by this driver)`,
        async () => {
          const { driver, second } = clients();
          const name = fresh(`refused-${field}`);
          for (const call of [() => driver.acquire(name, options), () => driver.tryAcquire(name, options)]) {
            const error = await rejection(call());
            expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
            expect(error.details.field).toBe(field);
          }
          const grant = await second.tryAcquire(name);
          expect(grant).not.toBeNull();
          await second.release(grant!);
        },
        TEST_MS,
      );
    }
  });

  /** `it`, or `it.skip` when the capability is missing: the skip then shows in jest's report. */
  function gated(enabled: boolean): typeof it {
    return enabled ? it : it.skip;
  }
}


/** Whether `promise` settles within `ms` (it is left running either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

function expectIncreasing(tokens: number[]): void {
  const out = tokens.findIndex((t, i) => i > 0 && t <= tokens[i - 1]!);
  if (out !== -1) throw new Error(`tokens do not strictly increase at #${out}: ${tokens.slice(Math.max(0, out - 3), out + 2).join(', ')}`);
}
