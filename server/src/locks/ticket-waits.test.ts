import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import type { LockRecord } from '../coordination/lock-rules';
import { TicketWaits } from './ticket-waits';

/** A lock state the test controls, read the way the node reads its applied state (asynchronously). */
function fixture() {
  const locks = new Map<string, LockRecord>();
  let reads = 0;
  const waits = new TicketWaits(async (name) => {
    reads++;
    await new Promise((r) => setImmediate(r));
    return locks.get(name) ?? null;
  });
  return { locks, waits, reads: () => reads };
}

const waiting = (ticket: number, session = 'S'): LockRecord => ({
  permits: 1, holders: [{ ticket: 1, token: 1, session: 'X', mode: 'exclusive', count: 1, since: 1, value: null }],
  waiters: [{ ticket, session, mode: 'exclusive', value: null }],
});

async function settled<T>(p: Promise<T>): Promise<{ value?: T; error?: HikariError } | 'pending'> {
  let out: { value?: T; error?: HikariError } | 'pending' = 'pending';
  p.then((value) => (out = { value }), (error: HikariError) => (out = { error }));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return out;
}

describe('TicketWaits', () => {
  it('answers a queued ticket with its token when the grant is applied', async () => {
    const { locks, waits } = fixture();
    locks.set('L', waiting(7));
    const conn = {};
    const p = waits.wait(conn, 'S', 'L', 7);
    expect(await settled(p)).toBe('pending');
    expect(waits.size).toBe(1);
    waits.onTickets([{ name: 'L', ticket: 8, token: 3 }, { name: 'M', ticket: 7, token: 4 }]);
    expect(await settled(p)).toBe('pending');
    waits.onTickets([{ name: 'L', ticket: 7, token: 5 }]);
    expect(await settled(p)).toEqual({ value: 5 });
    expect(waits.size).toBe(0);
  });

  it('answers at once when the state already shows the grant (granted before the wait arrived)', async () => {
    const { locks, waits } = fixture();
    locks.set('L', { permits: 1, holders: [{ ticket: 7, token: 9, session: 'S', mode: 'exclusive', count: 1, since: 8, value: null }], waiters: [] });
    expect(await settled(waits.wait({}, 'S', 'L', 7))).toEqual({ value: 9 });
  });

  it('a grant applied while the state is being read is not missed', async () => {
    const { locks, waits } = fixture();
    locks.set('L', waiting(7));
    const p = waits.wait({}, 'S', 'L', 7);
    // The read is in progress (it resolves on a later turn); the grant event arrives first.
    waits.onTickets([{ name: 'L', ticket: 7, token: 11 }]);
    expect(await settled(p)).toEqual({ value: 11 });
  });

  it('LOCK_NOT_HELD for a ticket that is gone, dropped, or belongs to another session', async () => {
    const { locks, waits } = fixture();
    expect((await settled(waits.wait({}, 'S', 'L', 7))) as { error: HikariError }).toMatchObject({ error: { code: ErrorCode.LOCK_NOT_HELD } });
    locks.set('L', waiting(7, 'OTHER'));
    expect((await settled(waits.wait({}, 'S', 'L', 7))) as { error: HikariError }).toMatchObject({ error: { code: ErrorCode.LOCK_NOT_HELD } });
    locks.set('L', waiting(7));
    const p = waits.wait({}, 'S', 'L', 7);
    await settled(p);
    waits.onTickets([{ name: 'L', ticket: 7, token: null }]);
    expect((await settled(p)) as { error: HikariError }).toMatchObject({ error: { code: ErrorCode.LOCK_NOT_HELD } });
  });

  it('a fate announced before its batch is written answers waits that arrive in between', async () => {
    const { locks, waits } = fixture();
    locks.set('L', waiting(7)); // the state still shows the ticket queued ...
    waits.onTicketsApplied([{ name: 'L', ticket: 7, token: 4 }]); // ... but its grant is applied
    expect(await settled(waits.wait({}, 'S', 'L', 7))).toEqual({ value: 4 });
    waits.onBatchWritten(); // from now on the state is the truth
    expect((await settled(waits.wait({}, 'S', 'L', 7))) as string).toBe('pending');
  });

  it('a newer wait of the same connection for the same ticket replaces the older one', async () => {
    const { locks, waits } = fixture();
    locks.set('L', waiting(7));
    const conn = {};
    const first = waits.wait(conn, 'S', 'L', 7);
    await settled(first);
    const second = waits.wait(conn, 'S', 'L', 7);
    expect((await settled(first)) as { error: HikariError }).toMatchObject({ error: { code: ErrorCode.TIMEOUT } });
    expect(waits.size).toBe(1);
    waits.onTickets([{ name: 'L', ticket: 7, token: 3 }]);
    expect(await settled(second)).toEqual({ value: 3 });
  });

  it('a closed connection ends its waits; a snapshot makes every wait look again', async () => {
    const { locks, waits } = fixture();
    locks.set('L', waiting(7));
    locks.set('M', waiting(8));
    const conn = {};
    const p1 = waits.wait(conn, 'S', 'L', 7);
    const p2 = waits.wait({}, 'S', 'M', 8);
    await settled(p1);
    waits.dropOwner(conn);
    expect((await settled(p1)) as { error: HikariError }).toMatchObject({ error: { code: ErrorCode.CONNECTION_LOSS } });
    locks.set('M', { permits: 1, holders: [{ ticket: 8, token: 12, session: 'S', mode: 'exclusive', count: 1, since: 20, value: null }], waiters: [] });
    await waits.recheckAll();
    expect(await settled(p2)).toEqual({ value: 12 });
    expect(waits.size).toBe(0);
  });
});
