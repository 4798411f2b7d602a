/**
 * The README's locks example: two clients contend for a lock, the loser queues (FIFO) and gets it
 * with a larger fencing token when the winner releases; a fenced write with the stale token is
 * refused; and a leader election hands over when the leader resigns.
 */
import { ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';

export async function locksExample(endpoints: readonly string[], print: (line: string) => void = console.log): Promise<void> {
  const a = await HikariClient.connect({ endpoints: [...endpoints] });
  const b = await HikariClient.connect({ endpoints: [...endpoints] });
  try {
    await a.create('/orders', '').catch((e: unknown) => { if (!HikariError.is(e, ErrorCode.NODE_EXISTS)) throw e; });
    await a.create('/orders/42', 'new').catch((e: unknown) => { if (!HikariError.is(e, ErrorCode.NODE_EXISTS)) throw e; });

    // A holds the lock; B's acquire queues behind it (no polling: the release hands it over).
    const first = await a.locks.acquire('orders/42');
    await a.set('/orders/42', 'paid', { fence: first });
    const waiting = b.locks.acquire('orders/42', { waitMs: 10_000 });
    let waiters = 0;
    while (waiters === 0) waiters = (await b.lockInfo('orders/42')).waiters.length; // B's acquire is in the log
    print(`queued behind token ${first.token}: ${waiters} waiter`);
    await a.locks.release(first);
    const second = await waiting;
    print(`handed over: token grew ${second.token > first.token}`);

    // A's token is stale now: a fenced write with it is refused, B's goes through.
    try {
      await a.set('/orders/42', 'refunded', { fence: first });
    } catch (e) {
      if (HikariError.is(e, ErrorCode.FENCE_MISMATCH)) print('stale token refused: FENCE_MISMATCH');
      else throw e;
    }
    await b.set('/orders/42', 'shipped', { fence: second });
    await b.locks.release(second);
    print(`order is ${(await a.get('/orders/42')).data.toString()}`);

    // withLock releases even when the callback throws.
    await b.withLock('orders/42', async () => { throw new Error('boom'); }).catch(() => undefined);
    print(`after a throwing withLock: ${(await a.lockInfo('orders/42')).holders.length} holders`);

    // Leader election on the same queues: A leads, B is next; A resigns and B is elected.
    const ea = a.election('billing');
    const eb = b.election('billing');
    await ea.campaign('instance-a');
    const bElected = eb.campaign('instance-b');
    print(`leader: ${(await b.election('billing').leader())!.value.toString()}`);
    await ea.resign();
    await bElected;
    print(`leader after resign: ${(await a.election('billing').leader())!.value.toString()}, b leads: ${eb.isLeader}`);
    await eb.resign();
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

if (require.main === module) {
  locksExample((process.env.HIKARI_ENDPOINTS ?? '127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703').split(',')).catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
