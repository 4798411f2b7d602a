import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { startTestCluster, TestCluster } from './harness';

const CLI = resolve(__dirname, '..', '..', 'server', 'dist', 'cli', 'hikari.js');

/** Runs the real `hikari` executable; resolves with its exit code and output. */
function hikari(t: TestCluster, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const endpoints = t.cluster.endpoints.join(',');
  const admin = t.cluster.nodes.map((n) => n.admin).join(',');
  return new Promise((done) => {
    execFile(process.execPath, [CLI, '--endpoints', endpoints, '--admin', admin, '--cluster-id', t.clusterId, ...args], (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

describe('the hikari CLI against a real cluster', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster(3);
  });
  afterAll(async () => t.destroy());

  test('create, get, set, ls, stat and rm, human and --json, with exit codes scripts can test', async () => {
    expect(await hikari(t, 'create', '/cli', 'one')).toMatchObject({ code: 0, stdout: '/cli' });
    expect(await hikari(t, 'create', '/cli', 'again')).toMatchObject({ code: 4 }); // NODE_EXISTS
    expect(await hikari(t, 'get', '/cli')).toMatchObject({ code: 0, stdout: 'one' });
    expect(await hikari(t, 'set', '/cli', 'two', '--version', '0')).toMatchObject({ code: 0, stdout: 'version 1' });
    expect(await hikari(t, 'set', '/cli', 'three', '--version', '0')).toMatchObject({ code: 5 }); // BAD_VERSION
    await hikari(t, 'create', '/cli/b');
    await hikari(t, 'create', '/cli/a');
    expect(await hikari(t, 'ls', '/cli')).toMatchObject({ code: 0, stdout: 'a\nb' });
    const json = await hikari(t, '--json', 'get', '/cli');
    expect(JSON.parse(json.stdout)).toMatchObject({ data: 'two', stat: { version: 1, childrenCount: 2 } });
    expect((await hikari(t, 'stat', '/cli')).stdout).toMatch(/childrenCount\s+2/);
    expect(await hikari(t, 'rm', '/cli')).toMatchObject({ code: 7 }); // NOT_EMPTY
    expect(await hikari(t, 'get', '/missing')).toMatchObject({ code: 3 }); // NO_NODE
    const missingJson = await hikari(t, '--json', 'get', '/missing');
    expect(JSON.parse(missingJson.stdout)).toMatchObject({ error: { code: 'NO_NODE' } });
    expect(await hikari(t, 'get', 'relative')).toMatchObject({ code: 2 }); // INVALID_PATH is a usage error
    expect(await hikari(t, 'frobnicate')).toMatchObject({ code: 2 });
  });

  test('cluster status, add (learner, caught up, promoted) and remove', async () => {
    const status = await hikari(t, '--json', 'cluster', 'status');
    const rows = JSON.parse(status.stdout) as Array<{ status: { role: string } }>;
    expect(rows.filter((r) => r.status.role === 'leader')).toHaveLength(1);
    const n4 = await t.cluster.addNodeDefinition();
    t.cluster.start(n4.id, true);
    const added = await hikari(t, '--json', 'cluster', 'add', String(n4.id), n4.peer, n4.client);
    expect(added.code).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ voters: [1, 2, 3, 4], learners: [] });
    const removed = await hikari(t, '--json', 'cluster', 'remove', String(n4.id));
    expect(JSON.parse(removed.stdout).voters).toEqual([1, 2, 3]);
    await t.cluster.kill(n4.id, 'SIGTERM');
  });
});
