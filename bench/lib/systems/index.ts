/** Every system the workloads compare, and the names `--systems` accepts. */
import { etcdSystem } from './etcd';
import { hikariKeeperSystem } from './hikarikeeper';
import { redisSystem } from './redis';
import { BenchSystem, SystemName } from './types';
import { zooKeeperSystem } from './zookeeper';

export const SYSTEMS: readonly BenchSystem[] = [hikariKeeperSystem, redisSystem, etcdSystem, zooKeeperSystem];

/** `--systems` names (and short forms) → system. */
const NAMES: Record<string, SystemName> = {
  hikarikeeper: 'hikarikeeper', hikari: 'hikarikeeper', hk: 'hikarikeeper',
  redis: 'redis',
  etcd: 'etcd',
  zookeeper: 'zookeeper', zk: 'zookeeper',
};

/** 'hikari,etcd' → the systems, in the order given; throws on an unknown or repeated name. */
export function parseSystems(text: string): SystemName[] {
  const names = text.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (names.length === 0) throw new Error('--systems needs at least one of hikari, redis, etcd, zookeeper');
  const systems: SystemName[] = [];
  for (const n of names) {
    const system = NAMES[n];
    if (system === undefined) throw new Error(`unknown system '${n}' in --systems (known: hikari, redis, etcd, zookeeper)`);
    if (systems.includes(system)) throw new Error(`--systems names ${system} twice`);
    systems.push(system);
  }
  return systems;
}

export function systemNamed(name: SystemName): BenchSystem {
  return SYSTEMS.find((s) => s.name === name)!;
}
