import { readFileSync } from 'node:fs';
import { HikariError, DATA_BYTES_MAX_DEFAULT, DATA_BYTES_MAX_CEILING } from '@hikarikeeper/protocol';
import { MemberAddress, parseHostPort } from './runtime/members';
import { CONNECTIONS_PER_ADDRESS_MAX_DEFAULT } from './api/connection-limits';
import { checkCertSubject } from './auth/grants';
import { checkBootstrapToken } from './auth/tokens';
import type { TlsFiles } from './auth/tls';
import { CLIENT_RETENTION_MS_DEFAULT, CLIENT_RETENTION_MS_MAX, CLIENT_RETENTION_MS_MIN } from './sessions/client-expiry';

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
  /**
   * TLS for the client port, the peer links (mutual, against the cluster CA) and, unless
   * `adminTls` is off, the admin port: the node's certificate, key and CA files. Null: plain TCP.
   */
  tls: TlsFiles | null;
  /** Serve the admin HTTP port over TLS (HTTPS). Default: on when `tls` is set. */
  adminTls: boolean;
  /** Authentication and access control (`--auth on|off|auto`; auto: on when a token or TLS is configured). */
  auth: boolean;
  /** The bootstrap admin token (from HIKARI_ADMIN_TOKEN or `--admin-token-file`), or null. */
  adminToken: string | null;
  /** Subjects (CN) of client certificates that are admins, whatever the replicated roles say. */
  adminCerts: string[];
  /** Client connections accepted from one address. */
  connectionsPerAddress: number;
  /** How long the outcomes of a client's writes are kept after its last write (for retries); then they are forgotten. */
  clientRetentionMs: number;
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
  tls: null,
  adminTls: false,
  auth: false,
  adminToken: null,
  adminCerts: [],
  connectionsPerAddress: CONNECTIONS_PER_ADDRESS_MAX_DEFAULT,
  clientRetentionMs: CLIENT_RETENTION_MS_DEFAULT,
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

/** Settings as given (file, environment, flags): the config's keys, and the file names it is resolved from. */
type RawKey = Exclude<keyof ServerConfig, 'tls'> | 'tlsCert' | 'tlsKey' | 'tlsCa' | 'tlsClientCa' | 'tlsCrl' | 'tlsPeerName' | 'adminTokenFile';
type Raw = Partial<Record<RawKey, unknown>>;

const ENV: Record<string, RawKey> = {
  HIKARI_ID: 'id', HIKARI_CLUSTER_ID: 'clusterId', HIKARI_DATA_DIR: 'dataDir', HIKARI_CLIENT_ADDRESS: 'clientAddress',
  HIKARI_PEER_ADDRESS: 'peerAddress', HIKARI_ADMIN_ADDRESS: 'adminAddress', HIKARI_CLUSTER: 'cluster', HIKARI_JOIN: 'join',
  HIKARI_TICK_MS: 'tickMs', HIKARI_ELECTION_TICKS: 'electionTicks', HIKARI_SNAPSHOT_EVERY: 'snapshotEvery',
  HIKARI_DATA_BYTES_MAX: 'dataBytesMax', HIKARI_LOG_LEVEL: 'logLevel',
  HIKARI_TLS_CERT: 'tlsCert', HIKARI_TLS_KEY: 'tlsKey', HIKARI_TLS_CA: 'tlsCa', HIKARI_TLS_CLIENT_CA: 'tlsClientCa', HIKARI_TLS_PEER_NAME: 'tlsPeerName', HIKARI_TLS_CRL: 'tlsCrl',
  HIKARI_ADMIN_TLS: 'adminTls', HIKARI_AUTH: 'auth', HIKARI_ADMIN_TOKEN: 'adminToken', HIKARI_ADMIN_TOKEN_FILE: 'adminTokenFile',
  HIKARI_ADMIN_CERTS: 'adminCerts', HIKARI_CONNECTIONS_PER_ADDRESS: 'connectionsPerAddress',
  HIKARI_CLIENT_RETENTION_MS: 'clientRetentionMs',
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
  const int = (key: RawKey, min: number, max: number): number => {
    const v = raw[key] ?? DEFAULT_CONFIG[key as keyof typeof DEFAULT_CONFIG];
    const n = typeof v === 'string' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) throw HikariError.invalidArgument(key, `must be an integer in [${min}, ${max}], got ${String(v)}`);
    return n;
  };
  const str = (key: RawKey): string => String(raw[key] ?? DEFAULT_CONFIG[key as keyof typeof DEFAULT_CONFIG]);
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
  const tls = tlsFiles(raw);
  const adminToken = adminTokenOf(raw);
  const adminCerts = listOf(raw.adminCerts).map((cn, i) => checkCertSubject(cn, `adminCerts[${i}]`));
  const auth = onOffAuto('auth', raw.auth, adminToken !== null || tls !== null);
  return {
    id, clusterId, dataDir: str('dataDir'), clientAddress, peerAddress, adminAddress, cluster, join,
    tickMs: int('tickMs', 1, 10_000), electionTicks, snapshotEvery: int('snapshotEvery', 10, 100_000_000),
    dataBytesMax: int('dataBytesMax', 1, DATA_BYTES_MAX_CEILING), logLevel: str('logLevel'),
    tls, adminTls: onOffAuto('adminTls', raw.adminTls, tls !== null), auth, adminToken, adminCerts,
    connectionsPerAddress: int('connectionsPerAddress', 1, 1_000_000),
    clientRetentionMs: int('clientRetentionMs', CLIENT_RETENTION_MS_MIN, CLIENT_RETENTION_MS_MAX),
  };
}

/** The TLS files: cert, key and CA together, or none of them. */
function tlsFiles(raw: Raw): TlsFiles | null {
  const given = (['tlsCert', 'tlsKey', 'tlsCa'] as const).filter((k) => raw[k] !== undefined && raw[k] !== '');
  if (given.length === 0) {
    for (const key of ['tlsClientCa', 'tlsCrl', 'tlsPeerName'] as const) if (raw[key] !== undefined) throw HikariError.invalidArgument(key, 'needs tlsCert, tlsKey and tlsCa');
    return null;
  }
  if (given.length < 3) throw HikariError.invalidArgument('tls', 'tlsCert, tlsKey and tlsCa go together (the node\'s certificate, its key, the cluster CA)');
  return {
    cert: String(raw.tlsCert), key: String(raw.tlsKey), ca: String(raw.tlsCa),
    ...(raw.tlsClientCa === undefined ? {} : { clientCa: String(raw.tlsClientCa) }),
    ...(raw.tlsCrl === undefined ? {} : { crl: String(raw.tlsCrl) }),
    ...(raw.tlsPeerName === undefined ? {} : { peerName: checkPeerNamePattern(raw.tlsPeerName) }),
  };
}

/** A peer certificate name: a host-name-like name, where `{id}` stands for the peer's node id (`hikari-node-{id}`). */
function checkPeerNamePattern(value: unknown): string {
  const text = String(value);
  if (text.length > 253 || !/^[A-Za-z0-9._-]+$/.test(text.replaceAll('{id}', '0'))) {
    throw HikariError.invalidArgument('tlsPeerName', "must be a name of letters, digits, '.', '_' and '-', up to 253 characters, where {id} stands for the node id (e.g. hikari-node-{id})");
  }
  return text;
}

/** The bootstrap admin token: given itself (HIKARI_ADMIN_TOKEN, or a config file) or in a file (first line). */
function adminTokenOf(raw: Raw): string | null {
  if (raw.adminToken !== undefined && raw.adminTokenFile !== undefined) throw HikariError.invalidArgument('adminToken', 'give the token or a file holding it, not both');
  if (raw.adminTokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(String(raw.adminTokenFile), 'utf8');
    } catch (e) {
      throw HikariError.invalidArgument('adminTokenFile', `cannot read ${String(raw.adminTokenFile)}: ${(e as Error).message}`);
    }
    return checkBootstrapToken(text.split('\n')[0]!.trim(), 'adminTokenFile');
  }
  return raw.adminToken === undefined || raw.adminToken === '' ? null : checkBootstrapToken(String(raw.adminToken));
}

/** A boolean setting: true/false/on/off/1/0, or auto (and absent): `auto`. */
function onOffAuto(key: RawKey, value: unknown, auto: boolean): boolean {
  if (value === undefined || value === 'auto') return auto;
  if (value === true || value === 'on' || value === 'true' || value === '1') return true;
  if (value === false || value === 'off' || value === 'false' || value === '0') return false;
  throw HikariError.invalidArgument(key, `must be on, off or auto, got ${String(value)}`);
}

/** A list given as an array (config file) or comma separated (flag, environment). */
function listOf(value: unknown): unknown[] {
  if (value === undefined || value === '') return [];
  if (Array.isArray(value)) return value;
  return String(value).split(',').map((part) => part.trim()).filter(Boolean);
}

function stripUndefined(o: Raw): Raw {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Raw;
}
