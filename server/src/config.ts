import { readFileSync } from 'node:fs';
import { HikariError, DATA_BYTES_MAX_DEFAULT, DATA_BYTES_MAX_CEILING } from '@hikarikeeper/protocol';
import { MemberAddress, parseHostPort } from './runtime/members';

/** Everything a server process needs. Flags override environment variables, which override the file. */
export interface ServerConfig {
  /** This node's Raft id: a positive integer, unique in the cluster, never reused. */
  id: number;
  clusterId: string;
  dataDir: string;
  clientAddress: string;
  peerAddress: string;
  adminAddress: string;
  /** The founding members (`id=peerHost:port/clientHost:port`, comma separated); a single node of itself by default. */
  cluster: MemberAddress[];
  /** Start empty and wait to be added to an existing cluster (no bootstrap). */
  join: boolean;
  tickMs: number;
  electionTicks: number;
  snapshotEvery: number;
  dataBytesMax: number;
  logLevel: string;
}

export const DEFAULT_CONFIG: Omit<ServerConfig, 'cluster'> = {
  id: 1,
  clusterId: 'hikari-dev',
  dataDir: './data',
  clientAddress: '127.0.0.1:7701',
  peerAddress: '127.0.0.1:7801',
  adminAddress: '127.0.0.1:7781',
  join: false,
  tickMs: 50,
  electionTicks: 10,
  snapshotEvery: 10_000,
  dataBytesMax: DATA_BYTES_MAX_DEFAULT,
  logLevel: 'info',
};

/** Parses `1=127.0.0.1:7801/127.0.0.1:7701,2=...` (peer address / client address per member). */
export function parseCluster(spec: string): MemberAddress[] {
  const members = spec.split(',').map((part) => part.trim()).filter(Boolean).map((part) => {
    const m = /^(\d+)=([^/]+)\/(.+)$/.exec(part);
    if (!m) throw HikariError.invalidArgument('cluster', `'${part}' is not id=peerHost:port/clientHost:port`);
    parseHostPort(m[2]);
    parseHostPort(m[3]);
    return { id: Number(m[1]), peer: m[2], client: m[3] };
  });
  if (members.length === 0) throw HikariError.invalidArgument('cluster', 'lists no member');
  if (new Set(members.map((m) => m.id)).size !== members.length) throw HikariError.invalidArgument('cluster', 'lists an id twice');
  return members.sort((a, b) => a.id - b.id);
}

type Raw = Partial<Record<keyof ServerConfig, unknown>>;

const ENV: Record<string, keyof ServerConfig> = {
  HIKARI_ID: 'id', HIKARI_CLUSTER_ID: 'clusterId', HIKARI_DATA_DIR: 'dataDir', HIKARI_CLIENT_ADDRESS: 'clientAddress',
  HIKARI_PEER_ADDRESS: 'peerAddress', HIKARI_ADMIN_ADDRESS: 'adminAddress', HIKARI_CLUSTER: 'cluster', HIKARI_JOIN: 'join',
  HIKARI_TICK_MS: 'tickMs', HIKARI_ELECTION_TICKS: 'electionTicks', HIKARI_SNAPSHOT_EVERY: 'snapshotEvery',
  HIKARI_DATA_BYTES_MAX: 'dataBytesMax', HIKARI_LOG_LEVEL: 'logLevel',
};

/** Merges file, environment and flags (in rising precedence) over the defaults, and validates. */
export function resolveConfig(flags: Raw, env: NodeJS.ProcessEnv, configFile?: string): ServerConfig {
  let file: Raw = {};
  if (configFile) {
    try {
      file = JSON.parse(readFileSync(configFile, 'utf8')) as Raw;
    } catch (e) {
      throw HikariError.invalidArgument('config', `cannot read ${configFile}: ${(e as Error).message}`);
    }
  }
  const fromEnv: Raw = {};
  for (const [name, key] of Object.entries(ENV)) if (env[name] !== undefined) fromEnv[key] = env[name];
  const raw: Raw = { ...file, ...fromEnv, ...stripUndefined(flags) };
  const int = (key: keyof ServerConfig, min: number, max: number): number => {
    const v = raw[key] ?? DEFAULT_CONFIG[key as keyof typeof DEFAULT_CONFIG];
    const n = typeof v === 'string' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) throw HikariError.invalidArgument(key, `must be an integer in [${min}, ${max}], got ${String(v)}`);
    return n;
  };
  const str = (key: keyof ServerConfig): string => String(raw[key] ?? DEFAULT_CONFIG[key as keyof typeof DEFAULT_CONFIG]);
  const id = int('id', 1, 2 ** 31 - 1);
  const clientAddress = str('clientAddress');
  const peerAddress = str('peerAddress');
  const adminAddress = str('adminAddress');
  for (const [k, v] of [['clientAddress', clientAddress], ['peerAddress', peerAddress], ['adminAddress', adminAddress]] as const) {
    try {
      parseHostPort(v);
    } catch {
      throw HikariError.invalidArgument(k, `'${v}' is not host:port`);
    }
  }
  const cluster = raw.cluster === undefined ? [{ id, peer: peerAddress, client: clientAddress }] : Array.isArray(raw.cluster) ? (raw.cluster as MemberAddress[]) : parseCluster(String(raw.cluster));
  const join = raw.join === true || raw.join === 'true' || raw.join === '1';
  if (!join && !cluster.some((m) => m.id === id)) throw HikariError.invalidArgument('cluster', `does not list this node (id ${id}); use --join to join an existing cluster`);
  const clusterId = str('clusterId');
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(clusterId)) throw HikariError.invalidArgument('clusterId', 'must be 1 to 64 characters among A-Z a-z 0-9 . _ : -');
  const electionTicks = int('electionTicks', 2, 1000);
  return {
    id, clusterId, dataDir: str('dataDir'), clientAddress, peerAddress, adminAddress, cluster, join,
    tickMs: int('tickMs', 1, 10_000), electionTicks, snapshotEvery: int('snapshotEvery', 10, 100_000_000),
    dataBytesMax: int('dataBytesMax', 1, DATA_BYTES_MAX_CEILING), logLevel: str('logLevel'),
  };
}

function stripUndefined(o: Raw): Raw {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Raw;
}
