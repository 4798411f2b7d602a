/**
 * Idle clients are forgotten (--client-retention-ms): on a real 3-node cluster with a 1 s retention,
 * a client's remembered write outcome answers its retry at first, and is forgotten by the leader's
 * sweep once the client has been idle past the retention; a client that keeps writing keeps its
 * outcomes; after the leader dies, the next leader sweeps. (That every replica deletes the same slots
 * is the state machine's: coordination/state-machine.test.ts.)
 */
import { Envelope, ErrorCode } from '@hikarikeeper/protocol';
import { adminRequest } from '../../server/src/admin/admin-client';
import { RawConnection, startTestCluster, TestCluster } from './harness';

const code = (e: Envelope) => (e.t === 3 ? e.e.code : 'ok');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('client retention on a real cluster', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster(3, ['--client-retention-ms', '1000']);
  });
  afterAll(async () => t.destroy());

  async function as(clientId: string, address: string): Promise<RawConnection> {
    const c = await RawConnection.open(address);
    const hello = await c.call(1, 'hello', { protocol: 1, clientId });
    expect(code(hello)).toBe('ok');
    // Told to clients, whose SDK then never sends a write again past half of it (libs/client dispatcher).
    expect((hello as { r: { limits: { writeRetentionMs: number } } }).r.limits.writeRetentionMs).toBe(1000);
    return c;
  }

  test("an idle client's outcomes are forgotten after the retention, a busy client's are kept, and the next leader sweeps too", async () => {
    const leader = await t.cluster.waitForLeader();
    const idle = await as('idle-client', t.cluster.node(leader).client);
    const busy = await as('busy-client', t.cluster.node(leader).client);
    const create = (c: RawConnection, id: number, path: string, seq: number) => c.call(id, 'create', { path, data: Buffer.alloc(0), mode: 'persistent', seq });
    expect(code(await create(idle, 2, '/idle', 1))).toBe('ok');
    expect(code(await create(busy, 2, '/busy', 1))).toBe('ok');
    expect(code(await create(idle, 3, '/idle', 1))).toBe('ok'); // a retry: answered with the first outcome

    // Keep `busy` writing (new seqs) while `idle` stays idle; poll idle's retry until it is applied anew.
    let seq = 2;
    let retried = 'ok';
    const until = Date.now() + 15_000;
    for (let id = 10; retried === 'ok' && Date.now() < until; id++) {
      await sleep(200);
      expect(code(await create(busy, 1000 + id, `/busy-${seq}`, seq++))).toBe('ok');
      retried = code(await create(idle, id, '/idle', 1));
    }
    expect(retried).toBe(ErrorCode.NODE_EXISTS);
    expect(code(await create(busy, 99, '/busy', 1))).toBe('ok'); // still remembered: its client wrote within the retention

    const metrics = await adminRequest(t.cluster.node(leader).admin, 'GET', '/metrics', {});
    const forgotten = metrics.text.split('\n').find((l) => l.startsWith('hikari_clients_forgotten '));
    expect(Number(forgotten?.split(' ')[1])).toBeGreaterThanOrEqual(1);

    idle.socket.destroy();
    busy.socket.destroy();

    // Only the leader sweeps; after it dies, the next leader does.
    await t.cluster.kill(leader);
    const next = await t.cluster.waitForLeader(20_000, t.cluster.nodes.map((n) => n.id).filter((id) => id !== leader));
    const later = await as('later-client', t.cluster.node(next).client);
    expect(code(await create(later, 2, '/later', 1))).toBe('ok');
    expect(code(await create(later, 3, '/later', 1))).toBe('ok');
    retried = 'ok';
    for (let id = 10; retried === 'ok' && Date.now() < until + 15_000; id++) {
      await sleep(200);
      retried = code(await create(later, id, '/later', 1));
    }
    expect(retried).toBe(ErrorCode.NODE_EXISTS);
    later.socket.destroy();
  }, 60_000);
});
