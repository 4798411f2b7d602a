import { mkdirSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { Registry, collectDefaultMetrics, Counter, Histogram, Gauge } from 'prom-client';
import { bootstrapLog, RandomSource } from '@hikarikeeper/raft';
import { HikariError, requestLimits } from '@hikarikeeper/protocol';
import { RocksStore, WriteBatch } from './storage/rocks';
import { RocksRaftStorage } from './storage/raft-storage';
import { CoordinationStateMachine } from './coordination/state-machine';
import { RaftRuntime } from './runtime/raft-runtime';
import { Clock, systemClock } from './runtime/clock';
import { encodeMemberContext, parseHostPort } from './runtime/members';
import { prometheusRuntimeMetrics } from './runtime/metrics';
import { TcpTransport } from './transport/tcp-transport';
import { ClientServer } from './api/client-server';
import { Dispatcher } from './api/dispatcher';
import { AdminServer } from './admin/admin-server';
import { servicesApiFor } from './admin/services-api';
import { SessionManager } from './sessions/session-manager';
import { SessionBindingTable } from './sessions/session-bindings';
import { TicketWaits } from './locks/ticket-waits';
import { WatchHub } from './watch/watch-hub';
import type { ServerConfig } from './config';
import type { Logger } from './logger';
import { loadAuthRecords } from './coordination/auth';
import { PermissionTable } from './auth/permission-table';
import { AccessGuard } from './auth/guard';
import { hashSecret } from './auth/tokens';
import { clientListenerContext, clientListenerOptions, describeCertificate, loadTlsMaterial, peerTlsOf } from './auth/tls';
import { AuthApi } from './admin/auth-api';
import { ClientExpiry } from './sessions/client-expiry';
import { TLS_HANDSHAKE_TIMEOUT_MS } from './api/connection-limits';

/** Randomness for election timeouts, from the OS (the simulator injects a seeded one instead). */
const osRandom: RandomSource = { nextInt: (bound) => randomInt(bound) };

/**
 * One HikariKeeper server node, wired from its parts: RocksDB → Raft storage → runtime (with the
 * coordination state machine and the peer transport) → client API and admin HTTP.
 */
export class HikariNode {
  private constructor(
    readonly config: ServerConfig,
    readonly runtime: RaftRuntime,
    private readonly store: RocksStore,
    private readonly clients: ClientServer,
    private readonly admin: AdminServer,
    private readonly log: Logger,
    readonly addresses: { client: string; admin: string; peer: string },
    private readonly sessions: SessionManager,
    private readonly clientExpiry: ClientExpiry,
    private readonly transport: TcpTransport,
  ) {}

  static async start(config: ServerConfig, log: Logger, clock: Clock = systemClock): Promise<HikariNode> {
    const tls = config.tls === null ? null : loadTlsMaterial(config.tls); // before anything opens: a bad file fails the start
    mkdirSync(config.dataDir, { recursive: true });
    const store = await RocksStore.open(config.dataDir);
    const storage = await RocksRaftStorage.open(store);
    if (storage.lastIndex() === 0 && storage.snapshot().metadata.index === 0 && !config.join) {
      // A brand-new cluster: every founder writes the same first entries (the membership, with addresses).
      const { entries, hardState } = bootstrapLog(config.cluster.map((m) => ({ id: m.id, context: encodeMemberContext(m) })));
      const batch = new WriteBatch();
      storage.stage(batch, { entries, hardState });
      await storage.persist(batch, { sync: true });
      log.info({ members: config.cluster.map((m) => m.id) }, 'bootstrapped a new cluster');
    }
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const sm = new CoordinationStateMachine(store);
    const peer = parseHostPort(config.peerAddress);
    const transport = new TcpTransport({ id: config.id, clusterId: config.clusterId, host: peer.host, port: peer.port, logger: log, ...(tls === null ? {} : { tls: peerTlsOf(tls) }) });
    const runtime = new RaftRuntime({
      id: config.id, store, storage, transport, clock, random: osRandom, logger: log,
      metrics: prometheusRuntimeMetrics(registry), tickMs: config.tickMs, electionTicks: config.electionTicks,
      snapshotEvery: config.snapshotEvery, compactionLag: Math.min(1000, Math.floor(config.snapshotEvery / 2)),
    }, sm);
    const requests = new Counter({ name: 'hikari_client_requests_total', help: 'Client requests by operation', labelNames: ['op'], registers: [registry] });
    const failures = new Counter({ name: 'hikari_client_request_errors_total', help: 'Failed client requests by operation and code', labelNames: ['op', 'code'], registers: [registry] });
    const latency = new Histogram({ name: 'hikari_client_request_seconds', help: 'Client request latency by operation', labelNames: ['op'], buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [registry] });
    const sessions = new SessionManager(runtime, clock, log);
    const clientExpiry = new ClientExpiry({
      isLeader: () => runtime.isLeader(), hasSession: (id) => sessions.exists(id), propose: (cmd) => runtime.propose(cmd), scanClients: (after, max) => sm.scanClients(after, max),
    }, clock, log, config.clientRetentionMs);
    sessions.load(await sm.loadSessions());
    const watches = new WatchHub(runtime.applied);
    const bindings = new SessionBindingTable();
    const tickets = new TicketWaits((name) => sm.lock(name));
    const authTable = new PermissionTable();
    authTable.reset(await loadAuthRecords(store));
    runtime.onBatch((b) => {
      if (b.auth.length > 0) authTable.apply(b.auth);
      sessions.onBatch(b.sessions);
      watches.onBatch(b.changes, b.applied);
      tickets.onBatchWritten();
    });
    runtime.onTicketsApplied((events) => tickets.onTicketsApplied(events));
    runtime.onSnapshotInstalled(async (applied) => {
      authTable.reset(await loadAuthRecords(store));
      sessions.reset(await sm.loadSessions());
      watches.reset(applied);
      await tickets.recheckAll();
    });
    sessions.onExpired((id) => bindings.expired(id));
    new Gauge({ name: 'hikari_sessions', help: 'Live sessions (as applied on this node)', registers: [registry], collect() { this.set(sessions.table.size); } });
    new Gauge({ name: 'hikari_state_cache_bytes', help: 'Bytes of state records cached in memory', registers: [registry], collect() { this.set(sm.cacheStats.bytes); } });
    new Gauge({ name: 'hikari_state_cache_hits', help: 'State record reads answered from memory (since start)', registers: [registry], collect() { this.set(sm.cacheStats.hits); } });
    new Gauge({ name: 'hikari_state_cache_misses', help: 'State record reads that went to RocksDB (since start)', registers: [registry], collect() { this.set(sm.cacheStats.misses); } });
    new Gauge({ name: 'hikari_clients_forgotten', help: 'Idle clients whose write outcomes this node\'s sweeps forgot (since start; leader only)', registers: [registry], collect() { this.set(clientExpiry.forgotten); } });
    new Gauge({ name: 'hikari_lock_waits', help: 'lock.wait requests held by this node', registers: [registry], collect() { this.set(tickets.size); } });
    new Gauge({ name: 'hikari_watches', help: 'Watches served by this node', registers: [registry], collect() { this.set(watches.watchCount); } });
    const limitsExceeded = new Counter({ name: 'hikari_client_limit_exceeded_total', help: 'Client requests or connections refused over a limit, by limit', labelNames: ['limit'], registers: [registry] });
    const denied = new Counter({ name: 'hikari_auth_denied_total', help: 'Requests refused with PERMISSION_DENIED, by operation and scope', labelNames: ['op', 'scope'], registers: [registry] });
    const unauthenticated = new Counter({ name: 'hikari_auth_unauthenticated_total', help: 'Credentials refused (UNAUTHENTICATED), by reason', labelNames: ['reason'], registers: [registry] });
    new Gauge({ name: 'hikari_peer_tls_refused', help: 'Inbound peer connections refused in the TLS handshake (since start)', registers: [registry], collect() { this.set(transport.stats().tlsHandshakesRefused); } });
    const guard = config.auth
      ? new AccessGuard(authTable, { adminTokenHash: config.adminToken === null ? null : hashSecret(config.adminToken), adminSubjects: new Set(config.adminCerts) }, {
        denied: (op, scope) => denied.inc({ op, scope }),
        unauthenticated: (reason) => unauthenticated.inc({ reason }),
      }, log)
      : null;
    const dispatcher = new Dispatcher(runtime, sm, clock, config.clusterId, requestLimits({ dataBytesMax: config.dataBytesMax }), sessions, watches, bindings, tickets, guard, config.clientRetentionMs);
    const clients = new ClientServer(dispatcher, log, {
      requestStarted(op) {
        requests.inc({ op });
        const end = latency.startTimer({ op });
        return () => end();
      },
      requestFailed(op, code) {
        failures.inc({ op, code });
      },
      limitExceeded(limit) {
        limitsExceeded.inc({ limit });
      },
    }, { connectionsPerAddressMax: config.connectionsPerAddress, ...(tls === null ? {} : { tls: clientListenerOptions(tls, TLS_HANDSHAKE_TIMEOUT_MS) }) });
    const connections = new Gauge({ name: 'hikari_client_connections', help: 'Open client connections', registers: [registry], collect() { this.set(clients.connectionCount); } });
    void connections;
    let admin: AdminServer | null = null;
    const info = () => ({ clusterId: config.clusterId, clientAddress: config.clientAddress, adminAddress: config.adminAddress, peerAddress: config.peerAddress });
    const authApi = new AuthApi({ propose: (cmd) => runtime.proposeInEffect(cmd), readBarrier: () => runtime.readBarrier(), list: () => authTable.list(), now: () => clock.now() });
    admin = new AdminServer(runtime, registry, log, info, servicesApiFor(runtime, sm, watches), {
      guard, auth: authApi, ...(tls !== null && config.adminTls ? { tls: clientListenerOptions(tls, TLS_HANDSHAKE_TIMEOUT_MS) } : {}),
    });
    if (config.auth && config.adminToken === null && config.adminCerts.length === 0) {
      log.warn({}, 'authentication is on with no bootstrap admin (no admin token, no admin certificate): only credentials already in the cluster state can be used');
    }
    if (!config.auth && tls !== null) log.warn({}, 'TLS is on but authentication is off (--auth off): anyone who completes a TLS handshake may use the cluster');
    runtime.onFatal = (e) => {
      log.error({ err: e.message }, 'fatal: exiting so that the node restarts from disk');
      process.exitCode = 70;
      setTimeout(() => process.exit(70), 100).unref();
    };
    await runtime.start(config.cluster);
    sessions.start();
    clientExpiry.start();
    const c = parseHostPort(config.clientAddress);
    const a = parseHostPort(config.adminAddress);
    const boundClient = await clients.listen(c.host, c.port);
    const boundAdmin = await admin.listen(a.host, a.port);
    const addresses = { client: `${boundClient.host}:${boundClient.port}`, admin: `${boundAdmin.host}:${boundAdmin.port}`, peer: config.peerAddress };
    log.info({ id: config.id, ...addresses, dataDir: config.dataDir, tls: tls !== null, adminTls: tls !== null && config.adminTls, auth: config.auth }, 'node started');
    return new HikariNode(config, runtime, store, clients, admin, log, addresses, sessions, clientExpiry, transport);
  }

  /**
   * Certificate rotation without a restart (SIGHUP): reads the configured TLS files again and, if
   * they are usable, gives them to the peer listener and dials, the client port and the admin port
   * (when it serves HTTPS) for their next handshakes; connections already open keep theirs. Throws
   * INVALID_ARGUMENT (the node runs without TLS, or a file is unreadable, not PEM, or a key that is
   * not the certificate's) and then changes nothing. Returns what the new certificate is.
   */
  reloadTls(): { subject: string; validTo: string; fingerprint256: string } {
    if (this.config.tls === null) throw HikariError.invalidArgument('tls', 'this node runs without TLS (--tls-cert, --tls-key, --tls-ca): TLS is turned on at start, not by a reload');
    const m = loadTlsMaterial(this.config.tls);
    this.transport.reloadTls(peerTlsOf(m));
    this.clients.setTls(clientListenerContext(m));
    if (this.config.adminTls) this.admin.setTls(clientListenerContext(m));
    const cert = describeCertificate(m.cert);
    this.log.info(cert, 'TLS material reloaded: new handshakes use this certificate');
    return cert;
  }

  /**
   * Graceful stop (SIGTERM): a leader first hands leadership to the most caught-up voter, then the
   * client port closes (requests still waiting get SHUTTING_DOWN), then Raft and storage stop.
   */
  async stop(): Promise<void> {
    if (this.runtime.isLeader()) {
      const moved = await this.runtime.stepDown(2000);
      this.log.info({ moved, leader: this.runtime.leader() }, moved ? 'leadership transferred before shutdown' : 'leadership transfer did not complete before shutdown');
    }
    await this.clients.close();
    this.sessions.stop();
    this.clientExpiry.stop();
    await this.runtime.stop();
    await this.admin.close();
    await this.store.close();
    this.log.info({ id: this.config.id }, 'node stopped');
  }
}
