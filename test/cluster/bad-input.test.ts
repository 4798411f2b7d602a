import { Envelope, ErrorCode } from '@hikarikeeper/protocol';
import { RawConnection, startTestCluster, TestCluster } from './harness';

const code = (e: Envelope) => (e.t === 3 ? e.e.code : 'ok');

describe('hostile and invalid input against a real node', () => {
  let t: TestCluster;
  let leaderAddress: string;
  beforeAll(async () => {
    t = await startTestCluster(3);
    leaderAddress = t.cluster.node(await t.cluster.waitForLeader()).client;
  });
  afterAll(async () => t.destroy());

  test('a garbage frame gets BAD_FRAME and closes that connection only; the node keeps serving', async () => {
    const bad = await RawConnection.open(leaderAddress);
    const garbage = Buffer.from([0, 0, 0, 5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1]);
    bad.socket.write(garbage);
    await bad.untilClosed();
    expect(bad.closed).toBe(true);
    expect(bad.received.map(code)).toEqual([ErrorCode.BAD_FRAME]);
    const good = await RawConnection.open(leaderAddress);
    good.request(1, 'hello', { protocol: 1 });
    expect(code(await good.answer(1))).toBe('ok');
    good.socket.destroy();
  });

  test('an oversized frame header gets TOO_LARGE before any body is read, and the connection is closed', async () => {
    const c = await RawConnection.open(leaderAddress);
    c.socket.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
    await c.untilClosed();
    expect(c.closed).toBe(true);
    expect(c.received.map(code)).toEqual([ErrorCode.TOO_LARGE]);
  });

  test('unknown op, invalid path, oversized data, wrong version: coded errors, the connection lives, nothing changes', async () => {
    const c = await RawConnection.open(leaderAddress);
    c.request(1, 'hello', { protocol: 1 });
    expect(code(await c.answer(1))).toBe('ok');
    c.request(2, 'create', { path: '/keep', data: Buffer.from('original'), mode: 'persistent' });
    expect(code(await c.answer(2))).toBe('ok');
    c.request(3, 'frobnicate', {});
    c.request(4, 'create', { path: 'no-slash', data: Buffer.alloc(0), mode: 'persistent' });
    c.request(5, 'create', { path: '/a/../b', data: Buffer.alloc(0), mode: 'persistent' });
    c.request(6, 'set', { path: '/keep', data: Buffer.alloc(1024 * 1024 + 1) });
    c.request(7, 'set', { path: '/keep', data: Buffer.from('clobbered'), version: 41 });
    c.request(8, 'delete', { path: '/keep', version: 9 });
    c.request(9, 'get', { path: '/keep', extra: true });
    c.request(10, 'create', { path: '/nope/child', data: Buffer.alloc(0), mode: 'persistent' });
    const codes = await Promise.all([3, 4, 5, 6, 7, 8, 9, 10].map(async (id) => code(await c.answer(id))));
    expect(codes).toEqual([
      ErrorCode.UNKNOWN_OPERATION, ErrorCode.INVALID_PATH, ErrorCode.INVALID_PATH, ErrorCode.TOO_LARGE,
      ErrorCode.BAD_VERSION, ErrorCode.BAD_VERSION, ErrorCode.INVALID_ARGUMENT, ErrorCode.NO_NODE,
    ]);
    expect(c.closed).toBe(false);
    c.request(11, 'get', { path: '/keep' });
    const got = await c.answer(11);
    expect(got.t).toBe(2);
    expect(Buffer.from((got as { r: { data: Uint8Array } }).r.data).toString()).toBe('original');
    c.request(12, 'exists', { path: '/nope' });
    expect((await c.answer(12)) as unknown).toMatchObject({ t: 2, r: null });
    c.socket.destroy();
  });

  test('a request before hello is refused with a coded error', async () => {
    const c = await RawConnection.open(leaderAddress);
    c.request(1, 'get', { path: '/' });
    expect(code(await c.answer(1))).toBe(ErrorCode.INVALID_ARGUMENT);
    c.socket.destroy();
  });
});
