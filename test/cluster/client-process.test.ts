import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Envelope } from '@hikarikeeper/protocol';
import { RawConnection, startTestCluster, TestCluster } from './harness';

const HOLDER = resolve(__dirname, 'fixtures', 'session-holder.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a session-holding client process and waits until its ephemeral node exists. */
async function startHolder(address: string, path: string, timeoutMs: number): Promise<{ child: ChildProcess; lines: Array<Record<string, unknown>> }> {
  const child = spawn(process.execPath, [HOLDER, address, path, String(timeoutMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Array<Record<string, unknown>> = [];
  let pending = '';
  child.stdout!.on('data', (c: Buffer) => {
    pending += c.toString();
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(pending.slice(0, nl)) as Record<string, unknown>);
      pending = pending.slice(nl + 1);
    }
  });
  const deadline = Date.now() + 10_000;
  while (!lines.some((l) => l.ready) && Date.now() < deadline) await sleep(20);
  if (!lines.some((l) => l.ready && l.created)) throw new Error(`holder did not start: ${JSON.stringify(lines)}`);
  return { child, lines };
}

describe('sessions of real client processes', () => {
  let t: TestCluster;
  let watcher: RawConnection;
  beforeAll(async () => {
    t = await startTestCluster(3);
    watcher = await RawConnection.open(t.cluster.node(await t.cluster.waitForLeader()).client);
    await watcher.call(1, 'hello', { protocol: 1 });
  });
  afterAll(async () => {
    watcher.socket.destroy();
    await t.destroy();
  });

  test('kill -9 of a client process: its ephemeral node disappears within TTL + 1 s and a watcher sees the deletion', async () => {
    const leader = t.cluster.node(await t.cluster.waitForLeader()).client;
    const timeoutMs = 2000;
    const holder = await startHolder(leader, '/crashed', timeoutMs);
    await watcher.call(2, 'watch', { path: '/crashed', kind: 'data' });
    await sleep(timeoutMs); // it keeps its session alive meanwhile
    expect((await watcher.call(3, 'exists', { path: '/crashed' })).t).toBe(2);
    expect(watcher.events('watch')).toEqual([]);
    holder.child.kill('SIGKILL');
    const killedAt = Date.now();
    while (watcher.events('watch').length === 0 && Date.now() - killedAt < timeoutMs + 3000) await sleep(20);
    const elapsed = Date.now() - killedAt;
    expect(watcher.events('watch')).toEqual([expect.objectContaining({ type: 'deleted', path: '/crashed' })]);
    expect(elapsed).toBeLessThan(timeoutMs + 1000);
  });

  test('a client paused (SIGSTOP) longer than its TTL finds its session expired when it wakes', async () => {
    const leader = t.cluster.node(await t.cluster.waitForLeader()).client;
    const timeoutMs = 1500;
    const holder = await startHolder(leader, '/paused', timeoutMs);
    holder.child.kill('SIGSTOP');
    await sleep(timeoutMs + 1200);
    const exists = (await watcher.call(10, 'exists', { path: '/paused' })) as Envelope & { r: unknown };
    expect(exists.r).toBeNull();
    holder.child.kill('SIGCONT');
    const woke = Date.now();
    while (!holder.lines.some((l) => l.event === 'session' || l.keepalive === 'SESSION_EXPIRED') && Date.now() - woke < 5000) await sleep(20);
    holder.child.kill('SIGKILL');
    // It learns it on waking: from the pushed event, or from its next keepalive.
    expect(holder.lines.some((l) => (l.event === 'session' && (l.data as { state: string }).state === 'expired') || l.keepalive === 'SESSION_EXPIRED')).toBe(true);
  });
});
