import { parseCommand } from './options';
import { parseSystems } from './systems';

const run = (argv: string[]) => {
  const c = parseCommand(argv);
  if (c.kind !== 'run') throw new Error(c.kind === 'error' ? c.message : 'help');
  return c.options;
};
const error = (argv: string[]) => {
  const c = parseCommand(argv);
  return c.kind === 'error' ? c.message : null;
};

describe('bench command line: systems, keys, workers', () => {
  test('each comparison has its default systems; short names and order are kept', () => {
    expect(run(['locks']).systems).toEqual(['hikarikeeper', 'redis', 'etcd', 'zookeeper']);
    expect(run(['kv']).systems).toEqual(['hikarikeeper', 'etcd', 'zookeeper']);
    expect(run(['failover']).systems).toEqual(['hikarikeeper', 'etcd', 'zookeeper']);
    expect(run(['locks', '--systems', 'zk,hikari']).systems).toEqual(['zookeeper', 'hikarikeeper']);
    expect(parseSystems(' Etcd , redis ')).toEqual(['etcd', 'redis']);
  });

  test('failover defaults: 5 kills, 5 s of steady load; --keys and --workers', () => {
    expect(run(['failover'])).toMatchObject({ kills: 5, seconds: 5, keys: [10_000, 4] });
    expect(run(['locks', '--keys', '100,2,1', '--workers', '16'])).toMatchObject({ keys: [100, 2, 1], clients: 16 });
  });

  test('locks and kv warm up 10 s by default (steady state), others 2 s; --warmup wins', () => {
    expect(run(['locks']).warmupSeconds).toBe(10);
    expect(run(['kv']).warmupSeconds).toBe(10);
    expect(run(['sessions']).warmupSeconds).toBe(2);
    expect(run(['locks', '--warmup', '0']).warmupSeconds).toBe(0);
  });

  test('refused: unknown or repeated systems, Redis in kv or failover, --systems elsewhere, bad keys, both --clients and --workers', () => {
    expect(error(['locks', '--systems', 'mysql'])).toMatch(/unknown system 'mysql'/);
    expect(error(['locks', '--systems', 'hk,hikari'])).toMatch(/twice/);
    expect(error(['kv', '--systems', 'redis'])).toMatch(/not part of the kv workload/);
    expect(error(['failover', '--systems', 'hikari,redis'])).toMatch(/no leader to kill/);
    expect(error(['discovery', '--systems', 'etcd'])).toMatch(/not discovery/);
    expect(error(['locks', '--keys', '0'])).toMatch(/--keys must be an integer/);
    expect(error(['locks', '--keys', '1,2,3,4,5,6,7,8,9'])).toMatch(/at most 8/);
    expect(error(['locks', '--clients', '4', '--workers', '4'])).toMatch(/same option/);
  });

  test('--rounds: 1 by default, locks and kv only, within [1, 20]', () => {
    expect(run(['locks']).rounds).toBe(1);
    expect(run(['kv', '--rounds', '3']).rounds).toBe(3);
    expect(error(['failover', '--rounds', '2'])).toMatch(/--rounds is for the locks and kv workloads, not failover \(it repeats its kills/);
    expect(error(['sessions', '--rounds', '1'])).toMatch(/not sessions/);
    expect(error(['locks', '--rounds', '0'])).toMatch(/--rounds must be an integer in \[1, 20\]/);
    expect(error(['locks', '--rounds', '21'])).toMatch(/--rounds must be an integer/);
    expect(error(['locks', '--rounds', '2', '--cpu-prof', '/tmp/p'])).toMatch(/--cpu-prof profiles one run/);
    expect(run(['locks', '--rounds', '1', '--cpu-prof', '/tmp/p']).cpuProfileDir).toBe('/tmp/p');
  });
});
