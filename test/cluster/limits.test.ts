/**
 * Limits on what one client can make a real node hold: a client that stops reading is disconnected
 * past the unread-output bound (the node does not buffer without end), connections per address,
 * and a connection that never says hello. Each refusal is coded and counted in /metrics.
 */
import { connect } from 'node:net';
import { encodeEnvelope, ErrorCode } from '@hikarikeeper/protocol';
import { adminRequest } from '../../server/src/admin/admin-client';
import { CLIENT_WRITE_BUFFER_BYTES_MAX } from '../../server/src/api/client-connection';
import { HELLO_TIMEOUT_MS } from '../../server/src/api/connection-limits';
import { RawConnection, startTestCluster, TestCluster } from './harness';

const PER_ADDRESS = 6;
const MiB = 1024 * 1024;

describe('limits of one client against a real node', () => {
  let t: TestCluster;
  let address: string;
  let silent: RawConnection;
  let silentOpenedAt: number;

  beforeAll(async () => {
    t = await startTestCluster(1, ['--connections-per-address', String(PER_ADDRESS)]);
    address = t.cluster.nodes[0]!.client;
    // Opened first, checked last: it never says hello.
    silent = await RawConnection.open(address);
    silentOpenedAt = Date.now();
  });
  afterAll(async () => t.destroy());

  async function limitCount(limit: string): Promise<number> {
    const res = await adminRequest(t.cluster.nodes[0]!.admin, 'GET', '/metrics', {});
    const line = res.text.split('\n').find((l) => l.startsWith(`hikari_client_limit_exceeded_total{limit="${limit}"}`));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  test('a client that reads nothing is disconnected once its unread answers pass the bound; the node serves on', async () => {
    const setup = await RawConnection.open(address);
    expect((await setup.call(1, 'hello', { protocol: 1 })).t).toBe(2);
    expect((await setup.call(2, 'create', { path: '/big', data: Buffer.alloc(MiB, 7), mode: 'persistent' })).t).toBe(2);
    setup.socket.destroy();

    // 80 reads of 1 MiB, answers never read: 80 MiB asked, the bound is 32 MiB (+ what the kernels buffer).
    const stalled = connect(Number(address.split(':')[1]), '127.0.0.1');
    await new Promise((r) => stalled.once('connect', r));
    let closed = false;
    stalled.on('close', () => (closed = true));
    stalled.on('error', () => undefined);
    stalled.pause();
    stalled.write(encodeEnvelope({ t: 1, id: 1, op: 'hello', a: { protocol: 1 } }));
    for (let id = 2; id < 82; id++) stalled.write(encodeEnvelope({ t: 1, id, op: 'get', a: { path: '/big', stale: true } }));
    const deadline = Date.now() + 20_000;
    while ((await limitCount('unread response bytes')) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await limitCount('unread response bytes')).toBe(1);
    // What the node had queued is gone with the connection: reading now yields less than was asked.
    let bytes = 0;
    stalled.on('data', (chunk: Buffer) => (bytes += chunk.length));
    stalled.resume();
    while (!closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(true);
    expect(bytes).toBeLessThan(CLIENT_WRITE_BUFFER_BYTES_MAX + 16 * MiB);
    expect(bytes).toBeLessThan(80 * MiB);
    const client = await t.client();
    expect((await client.get('/big')).data.length).toBe(MiB);
    await client.close();
  });

  test(`over ${PER_ADDRESS} connections from one address, the next is told TOO_MANY_CONNECTIONS and closed; a slot freed is taken again`, async () => {
    const open: RawConnection[] = [silent]; // the silent one counts too
    for (let i = 1; i < PER_ADDRESS; i++) {
      const c = await RawConnection.open(address);
      expect((await c.call(1, 'hello', { protocol: 1 })).t).toBe(2);
      open.push(c);
    }
    const before = await limitCount('connections per address');
    const refused = await RawConnection.open(address);
    await refused.untilClosed();
    expect(refused.closed).toBe(true);
    expect(refused.received).toEqual([expect.objectContaining({ t: 3, id: 0, e: expect.objectContaining({ code: ErrorCode.TOO_MANY_CONNECTIONS, details: { what: 'connections per address', limit: PER_ADDRESS } }) })]);
    expect(await limitCount('connections per address')).toBe(before + 1);
    open.pop()!.socket.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const again = await RawConnection.open(address);
    expect((await again.call(1, 'hello', { protocol: 1 })).t).toBe(2);
    again.socket.destroy();
    for (const c of open.slice(1)) c.socket.destroy();
  });

  test(`a connection that never says hello is closed after ${HELLO_TIMEOUT_MS} ms with a coded error`, async () => {
    const waitMs = silentOpenedAt + HELLO_TIMEOUT_MS + 3_000 - Date.now();
    await silent.untilClosed(Math.max(waitMs, 0));
    expect(silent.closed).toBe(true);
    expect(Date.now() - silentOpenedAt).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 100);
    expect(silent.received).toEqual([expect.objectContaining({ t: 3, id: 0, e: expect.objectContaining({ code: ErrorCode.TIMEOUT }) })]);
    expect(await limitCount('hello timeout')).toBe(1);
  });
});
