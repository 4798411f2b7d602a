import { WritesInFlight } from './writes-in-flight';

/** A write the test finishes by hand. */
function pending(): { write: Promise<void>; finish(): void; fail(e: Error): void } {
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const write = new Promise<void>((res, rej) => ((finish = res), (fail = rej)));
  return { write, finish, fail };
}

/** Whether `p` has settled after the microtasks queued so far have run. */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('WritesInFlight', () => {
  test('settled() waits for the writes in flight at the call only, not for writes handed off later', async () => {
    const w = new WritesInFlight();
    const a = pending();
    w.track(a.write);
    const barrier = w.settled();
    const b = pending();
    w.track(b.write); // a newer write, still in flight when `a` is done
    expect(await isSettled(barrier)).toBe(false);
    a.finish();
    expect(await isSettled(barrier)).toBe(true);
    expect(w.size).toBe(1);
    b.finish();
    await w.drained();
    expect(w.size).toBe(0);
  });

  test('drained() waits until no write is in flight, including writes handed off while it waits', async () => {
    const w = new WritesInFlight();
    const a = pending();
    w.track(a.write);
    const drained = w.drained();
    const b = pending();
    w.track(b.write);
    a.finish();
    expect(await isSettled(drained)).toBe(false);
    b.finish();
    expect(await isSettled(drained)).toBe(true);
  });

  test('a failed write settles the barriers (it is the caller of track who hears the failure); oldest() never rejects', async () => {
    const w = new WritesInFlight();
    const a = pending();
    const tracked = w.track(a.write);
    const heard = tracked.catch((e: Error) => e.message);
    const oldest = w.oldest();
    const barrier = w.settled();
    a.fail(new Error('disk gone'));
    expect(await heard).toBe('disk gone');
    await expect(oldest).resolves.toBeUndefined();
    await expect(barrier).resolves.toBeUndefined();
    expect(w.size).toBe(0);
    await expect(w.settled()).resolves.toBeUndefined(); // nothing in flight: at once
  });
});
