import pino from 'pino';
import type { Command, Outcome } from '../coordination/commands';
import type { ClientSlots } from '../coordination/clients';
import type { Clock } from '../runtime/clock';
import { ClientExpiry, FORGET_SLOTS_MAX, SWEEP_KEYS_MAX } from './client-expiry';

/** A clock the test moves by hand. */
function manualClock(start: number): Clock & { t: number } {
  return { t: start, now() { return this.t; }, every: () => ({ cancel() {} }), after: () => ({ cancel() {} }) };
}

/** A host with clients (id → newest slot time, slots) and a log of what was proposed. */
function host(clients: Array<[string, number, number, string[]?]>, leader = true) {
  const proposed: Command[] = [];
  const scans: Array<string | null> = [];
  return {
    proposed,
    scans,
    leader,
    isLeader() { return this.leader; },
    live: new Set<string>(),
    hasSession(id: string) { return this.live.has(id); },
    async propose(cmd: Command): Promise<Outcome> {
      proposed.push(cmd);
      return { ok: true, value: { forgotten: (cmd as { ids: string[] }).ids } };
    },
    async scanClients(after: string | null, keysMax: number): Promise<{ clients: ClientSlots[]; next: string | null }> {
      scans.push(after);
      expect(keysMax).toBe(SWEEP_KEYS_MAX);
      const rest = clients.filter(([id]) => after === null || id > after);
      const page = rest.slice(0, 2).map(([id, newest, slots, sessions]) => ({ id, newest, slots, sessions: sessions ?? [] }));
      return { clients: page, next: rest.length > 2 ? page[page.length - 1].id : null };
    },
  };
}

const log = pino({ level: 'silent' });

describe('ClientExpiry', () => {
  test('proposes forget for the clients of one page idle past the retention, with the cutoff; pages on, then wraps', async () => {
    const clock = manualClock(100_000);
    const h = host([['a', 10_000, 3], ['b', 95_000, 1], ['c', 1, 2], ['d', 50_000, 1]]);
    const expiry = new ClientExpiry(h, clock, log, 40_000);
    expect(await expiry.sweep()).toBe(1);
    expect(h.proposed).toEqual([{ k: 'clients', op: 'forget', ids: ['a'], before: 60_000, t: 100_000 }]);
    expect(await expiry.sweep()).toBe(2);
    expect(h.proposed[1]).toEqual({ k: 'clients', op: 'forget', ids: ['c', 'd'], before: 60_000, t: 100_000 });
    await expiry.sweep();
    expect(h.scans).toEqual([null, 'b', null]);
    expect(expiry.forgotten).toBe(4); // the fake host forgets whatever is asked (the third sweep asked for 'a' again)
  });

  test('a client with a slot written in a session alive here is not proposed; once the session is gone, it is', async () => {
    const h = host([['a', 0, 1, ['s1', 's2']], ['b', 0, 1, ['s3']]]);
    h.live.add('s2');
    const expiry = new ClientExpiry(h, manualClock(10_000), log, 1_000);
    await expiry.sweep();
    expect(h.proposed).toEqual([{ k: 'clients', op: 'forget', ids: ['b'], before: 9_000, t: 10_000 }]);
    h.live.clear();
    await expiry.sweep();
    expect((h.proposed[1] as { ids: string[] }).ids).toEqual(['a', 'b']);
  });

  test('a follower never sweeps; a sweep already running is not doubled', async () => {
    const h = host([['a', 0, 1]], false);
    const expiry = new ClientExpiry(h, manualClock(10_000), log, 1_000);
    expect(await expiry.sweep()).toBe(0);
    expect(h.scans).toEqual([]);
    h.leader = true;
    const [one, two] = await Promise.all([expiry.sweep(), expiry.sweep()]);
    expect(one + two).toBe(1);
    expect(h.scans).toHaveLength(1);
  });

  test('splits a large page into entries of at most FORGET_SLOTS_MAX slots', async () => {
    const clients: Array<[string, number, number]> = Array.from({ length: 40 }, (_, i) => [`c${String(i).padStart(2, '0')}`, 0, 256]);
    const h = host(clients);
    h.scanClients = async () => ({ clients: clients.map(([id, newest, slots]) => ({ id, newest, slots, sessions: [] })), next: null });
    const expiry = new ClientExpiry(h, manualClock(10_000), log, 1_000);
    expect(await expiry.sweep()).toBe(40);
    expect(h.proposed.map((c) => (c as { ids: string[] }).ids.length)).toEqual([FORGET_SLOTS_MAX / 256, FORGET_SLOTS_MAX / 256, 40 - 2 * (FORGET_SLOTS_MAX / 256)]);
  });

  test('a refused or failed proposal ends the sweep quietly; the next one tries again', async () => {
    const h = host([['a', 0, 1]]);
    h.propose = async () => { throw new Error('not leader'); };
    const expiry = new ClientExpiry(h, manualClock(10_000), log, 1_000);
    expect(await expiry.sweep()).toBe(0);
    h.propose = async () => ({ ok: false, error: { code: 'INVALID_ARGUMENT', message: 'no' } } as Outcome);
    expect(await expiry.sweep()).toBe(0);
    expect(expiry.forgotten).toBe(0);
  });

  test('sweeps every quarter of the retention, between 250 ms and 10 minutes', () => {
    const at = (ms: number) => new ClientExpiry(host([]), manualClock(0), log, ms).intervalMs;
    expect(at(1_000)).toBe(250);
    expect(at(60_000)).toBe(15_000);
    expect(at(24 * 3600_000)).toBe(600_000);
  });
});
