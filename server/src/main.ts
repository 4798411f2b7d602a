#!/usr/bin/env node
/**
 * `hikari-server`: one HikariKeeper node. With no arguments it runs a single-node cluster with data in
 * ./data (the embedded default). See `hikari-server --help`.
 */
import { Command } from 'commander';
import pino from 'pino';
import { HikariError } from '@hikarikeeper/protocol';
import { resolveConfig } from './config';
import { HikariNode } from './hikari-node';

async function main(): Promise<void> {
  const program = new Command('hikari-server')
    .description('A HikariKeeper coordination service node (Raft on RocksDB).')
    .option('--id <n>', 'this node\'s id (positive integer, unique, never reused) [HIKARI_ID]')
    .option('--cluster-id <name>', 'cluster name; nodes and clients of another cluster are refused [HIKARI_CLUSTER_ID]')
    .option('--data-dir <dir>', 'where RocksDB keeps this node\'s data [HIKARI_DATA_DIR]')
    .option('--client-address <host:port>', 'listen address for SDK clients [HIKARI_CLIENT_ADDRESS]')
    .option('--peer-address <host:port>', 'listen address for other nodes [HIKARI_PEER_ADDRESS]')
    .option('--admin-address <host:port>', 'listen address for /health, /ready, /status, /metrics [HIKARI_ADMIN_ADDRESS]')
    .option('--cluster <members>', 'founding members: id=peerHost:port/clientHost:port,... [HIKARI_CLUSTER]')
    .option('--join', 'start empty and wait to be added to an existing cluster [HIKARI_JOIN]')
    .option('--tick-ms <ms>', 'Raft tick length; elections after 10-20 ticks [HIKARI_TICK_MS]')
    .option('--snapshot-every <entries>', 'snapshot and compact the log every N entries [HIKARI_SNAPSHOT_EVERY]')
    .option('--election-ticks <n>', 'ticks without a leader before an election (randomized up to twice) [HIKARI_ELECTION_TICKS]')
    .option('--data-bytes-max <bytes>', 'largest node data accepted (default 1 MiB) [HIKARI_DATA_BYTES_MAX]')
    .option('--log-level <level>', 'trace, debug, info, warn, error [HIKARI_LOG_LEVEL]')
    .option('--tls-cert <file>', 'this node\'s certificate (PEM): TLS on the client, peer and admin ports [HIKARI_TLS_CERT]')
    .option('--tls-key <file>', 'its private key (PEM) [HIKARI_TLS_KEY]')
    .option('--tls-ca <file>', 'the cluster CA (PEM): peers must present a certificate it signed [HIKARI_TLS_CA]')
    .option('--tls-client-ca <file>', 'the CA of client certificates (default: --tls-ca) [HIKARI_TLS_CLIENT_CA]')
    .option('--tls-crl <file>', 'certificate revocation lists (PEM, one per CA in use): listed certificates are refused on every port; reloaded on SIGHUP [HIKARI_TLS_CRL]')
    .option('--tls-peer-name <name>', 'the name (CN or DNS SAN) a peer node\'s certificate must carry; {id} stands for its node id, e.g. hikari-node-{id} (default: any certificate of the CA) [HIKARI_TLS_PEER_NAME]')
    .option('--admin-tls <on|off>', 'serve the admin port over HTTPS (default: on with TLS) [HIKARI_ADMIN_TLS]')
    .option('--auth <on|off|auto>', 'authentication and access control (auto: on when a token or TLS is configured) [HIKARI_AUTH]')
    .option('--admin-token-file <file>', 'a file holding the bootstrap admin token (or set HIKARI_ADMIN_TOKEN) [HIKARI_ADMIN_TOKEN_FILE]')
    .option('--admin-certs <subjects>', 'client certificate subjects (CN) that are admins, comma separated [HIKARI_ADMIN_CERTS]')
    .option('--connections-per-address <n>', 'client connections accepted from one address (default 1024) [HIKARI_CONNECTIONS_PER_ADDRESS]')
    .option('--client-retention-ms <ms>', 'keep a client\'s write outcomes (for retries) this long after its last write (default 24 h) [HIKARI_CLIENT_RETENTION_MS]')
    .option('--config <file>', 'a JSON file with the same settings (camelCase keys)');
  program.parse(process.argv);
  const o = program.opts<Record<string, string | boolean | undefined>>();
  let config;
  try {
    config = resolveConfig({
      id: o.id, clusterId: o.clusterId, dataDir: o.dataDir, clientAddress: o.clientAddress, peerAddress: o.peerAddress,
      adminAddress: o.adminAddress, cluster: o.cluster, join: o.join, tickMs: o.tickMs, snapshotEvery: o.snapshotEvery, logLevel: o.logLevel,
      electionTicks: o.electionTicks, dataBytesMax: o.dataBytesMax, tlsCert: o.tlsCert, tlsKey: o.tlsKey, tlsCa: o.tlsCa,
      tlsClientCa: o.tlsClientCa, tlsPeerName: o.tlsPeerName, tlsCrl: o.tlsCrl, adminTls: o.adminTls, auth: o.auth, adminTokenFile: o.adminTokenFile, adminCerts: o.adminCerts,
      connectionsPerAddress: o.connectionsPerAddress, clientRetentionMs: o.clientRetentionMs,
    }, process.env, o.config as string | undefined);
  } catch (e) {
    console.error(`hikari-server: ${e instanceof HikariError ? e.message : String(e)}`);
    process.exit(2);
  }
  const log = pino({ level: config.logLevel, base: { node: config.id } });
  let node: HikariNode;
  try {
    node = await HikariNode.start(config, log);
  } catch (e) {
    log.error({ err: e instanceof Error ? e.message : String(e) }, 'failed to start');
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // A graceful stop that hangs (storage stuck, a peer that never answers) must not keep the process.
    setTimeout(() => {
      log.error({ signal }, 'graceful stop took longer than 10 s; exiting now');
      process.exit(1);
    }, 10_000).unref();
    node.stop().then(() => process.exit(0), (e) => {
      log.error({ err: String(e) }, 'error while stopping');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Certificate rotation: the TLS files are read again; a bad file leaves the node on the old ones.
  process.on('SIGHUP', () => {
    try {
      node.reloadTls();
    } catch (e) {
      log.error({ err: e instanceof Error ? e.message : String(e) }, 'TLS reload refused; the node keeps its TLS material');
    }
  });
  // Launched by a harness (npm start, tests): go when the harness goes.
  const parent = Number(process.env.HIKARI_EXIT_WITH_PARENT);
  if (Number.isSafeInteger(parent) && parent > 0) {
    setInterval(() => {
      try {
        process.kill(parent, 0);
      } catch {
        stop('parent exited');
      }
    }, 1000).unref();
  }
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
