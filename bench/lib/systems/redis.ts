/** Redis: one real redis-server (../peers/redis.ts: no fsync, no replica) with the RedisLockDriver most teams run. */
import Redis from 'ioredis';
import { RedisLockDriver } from '@hikarikeeper/client';
import { openAll } from '../drivers/types';
import { startRedis } from '../peers/redis';
import { BenchSystem, RunningSystem } from './types';

export const redisSystem: BenchSystem = {
  name: 'redis',
  label: 'Redis',
  durability: 'Redis: one server, in memory: no fsync (no AOF, no snapshots), no replica — it pays nothing for durability',
  lock: 'RedisLockDriver: SET NX PX + INCR fencing counter in one Lua script, compare-and-delete release, 1–3 ms random retry while taken',
  kv: false,
  failover: false,
  async start(): Promise<RunningSystem> {
    const server = await startRedis();
    return {
      name: 'redis',
      label: 'Redis',
      description: '1 redis-server',
      pids: () => new Map(server.pid > 0 ? [['redis', server.pid]] : []),
      async openLockDrivers(n) {
        const connections = await openAll(n, async () => {
          const r = new Redis({ host: server.host, port: server.port, lazyConnect: true, maxRetriesPerRequest: 1 });
          try {
            await r.connect();
          } catch (e) {
            r.disconnect();
            throw e;
          }
          return r;
        }, (r) => r.disconnect());
        return { drivers: connections.map((r) => new RedisLockDriver(r)), close: async () => connections.forEach((r) => r.disconnect()) };
      },
      openKvDrivers: null,
      failover: null,
      stop: () => server.stop(),
    };
  },
};
