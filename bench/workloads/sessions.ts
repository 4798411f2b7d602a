/**
 * `npm run bench -- sessions [--sessions 10000] [--watchers 10000] [--seconds 10]`: N sessions, each on
 * its own connection to the leader, kept alive every timeout/3 (10 s timeout); then W watchers (100
 * watches per connection) on one node, and the time from a change to each watch event.
 *
 * By default each session is one TCP connection (bound to it, as the SDK does), so N is bounded by the
 * open-file limit of this machine (20,000 per process, hard). With --sessions-per-connection K, each
 * connection opens K detached sessions (`attach: false`) and renews them all with one
 * `session.keepalive { sessionIds }` every timeout/3: 100,000 sessions over 1,000 connections.
 */
import { connect, Socket } from 'node:net';
import { decodeEnvelope, encodeEnvelope, Envelope, FrameDecoder } from '@hikarikeeper/protocol';
import { withCluster } from '../lib/cluster';
import { LatencyRecorder } from '../lib/latency';
import { formatCount, formatMs, makeTable } from '../lib/report';
import type { Workload, WorkloadContext, WorkloadResult } from '../lib/workload';

const WATCHES_PER_CONNECTION = 100;
const OPEN_CONCURRENCY = 200;

/** A minimal protocol connection: requests by id, pushed events to a callback. */
class Conn {
  private readonly decoder = new FrameDecoder();
  private readonly waiting = new Map<number, (e: Envelope) => void>();
  private nextId = 1;
  onEvent: (kind: string, data: unknown) => void = () => undefined;
  private constructor(readonly socket: Socket) {
    socket.on('data', (c) => {
      for (const body of this.decoder.push(c)) {
        const e = decodeEnvelope(body);
        if (e.t === 4) this.onEvent(e.k, e.d);
        else {
          this.waiting.get(e.id)?.(e);
          this.waiting.delete(e.id);
        }
      }
    });
    socket.on('error', () => undefined);
    // A connection the server refused or dropped fails what waits on it, loudly.
    socket.on('close', () => {
      for (const resolve of this.waiting.values()) resolve({ t: 3, id: 0, e: { code: 'CONNECTION_LOSS', message: 'the server closed the connection' } });
      this.waiting.clear();
    });
  }
  static open(address: string): Promise<Conn> {
    const [host, port] = address.split(':');
    return new Promise((resolve, reject) => {
      const s = connect(Number(port), host, () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  call(op: string, a: Record<string, unknown>): Promise<Envelope> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      this.waiting.set(id, resolve);
      this.socket.write(encodeEnvelope({ t: 1, id, op, a }));
    });
  }
}

async function metric(admin: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function run(ctx: WorkloadContext): Promise<WorkloadResult> {
  const { sessions, watchers } = ctx.options;
  const timeoutMs = ctx.options.sessionTimeoutMs;
  const seconds = ctx.options.seconds;
  // One connection per session from this one address: lift the per-address connection bound (1,024 by default).
  return withCluster({ nodes: ctx.options.nodes, extraArgs: ['--connections-per-address', '20000'] }, async (cluster) => {
    // Sessions are opened on the leader: wait until the first election has settled (a fresh cluster
    // may still change leaders in its first second).
    let leaderId = await cluster.leader();
    for (let stable = 0; stable < 3;) {
      await new Promise((r) => setTimeout(r, 500));
      const now = await cluster.leader();
      stable = now === leaderId ? stable + 1 : 0;
      leaderId = now;
    }
    const leader = cluster.processes.node(leaderId);
    const admin = leader.admin;
    const heapBefore = await metric(admin, 'nodejs_heap_size_used_bytes');
    const rssBefore = await metric(admin, 'process_resident_memory_bytes');

    // Keepalives start on each connection as soon as its sessions are open (opening 100,000 takes
    // longer than their timeout); they are measured once every session is open.
    const keepalive = new LatencyRecorder();
    let expired = 0;
    let failed = 0;
    let renewed = 0;
    let running = true;
    let measuring = false;
    const loops: Array<Promise<void>> = [];
    const keepAlive = async (c: Conn, ids: readonly string[]): Promise<void> => {
      await new Promise((r) => setTimeout(r, Math.random() * (timeoutMs / 3)));
      while (running) {
        const started = process.hrtime.bigint();
        const r = await c.call('session.keepalive', ids.length > 1 || ctx.options.sessionsPerConnection > 1 ? { sessionIds: ids } : {});
        if (measuring) keepalive.recordSince(started);
        if (r.t !== 2) failed++;
        else {
          const gone = (r.r as { expired?: string[] }).expired ?? [];
          expired += gone.length;
          if (measuring) renewed += ids.length - gone.length;
        }
        await new Promise((res) => setTimeout(res, timeoutMs / 3));
      }
    };

    // 1. Open the sessions: K per connection (detached when K > 1).
    const perConn = ctx.options.sessionsPerConnection;
    const detached = perConn > 1;
    const conns: Conn[] = [];
    const idsOf = new Map<Conn, string[]>();
    const openStarted = Date.now();
    let opened = 0;
    const connCount = Math.ceil(sessions / perConn);
    const connsAtOnce = Math.max(1, Math.floor(OPEN_CONCURRENCY / perConn));
    for (let at = 0; at < connCount; at += connsAtOnce) {
      await Promise.all(Array.from({ length: Math.min(connsAtOnce, connCount - at) }, async (_, j) => {
        const c = await Conn.open(leader.client);
        await c.call('hello', { protocol: 1 });
        const count = Math.min(perConn, sessions - (at + j) * perConn);
        const ids = await Promise.all(Array.from({ length: count }, async () => {
          const r = await c.call('session.open', detached ? { timeoutMs: timeoutMs, attach: false } : { timeoutMs: timeoutMs });
          if (r.t !== 2) {
            const logs = cluster.processes.nodes.map((n) => `n${n.id}:\n${n.logs.slice(-12).join('\n')}`).join('\n');
            throw new Error(`session.open failed: ${JSON.stringify(r)}\n${logs}`);
          }
          opened++;
          return (r.r as { sessionId: string }).sessionId;
        }));
        idsOf.set(c, ids);
        conns.push(c);
        c.onEvent = (kind) => { if (kind === 'session') expired++; };
        loops.push(keepAlive(c, ids));
      }));
      ctx.progress.update(`opening sessions: ${formatCount(opened)} / ${formatCount(sessions)}`);
    }
    const openSeconds = (Date.now() - openStarted) / 1000;

    // 2. Keep them alive for `seconds`, every timeout/3 with jitter, and measure keepalives.
    measuring = true;
    const steadyEnd = Date.now() + Math.max(seconds * 1000, timeoutMs / 3 + 1000);
    while (Date.now() < steadyEnd) {
      ctx.progress.update(`${formatCount(sessions)} sessions alive; keepalive calls: ${formatCount(keepalive.count)}, sessions renewed: ${formatCount(detached ? renewed : keepalive.count)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const heapAt = await metric(admin, 'nodejs_heap_size_used_bytes');
    const rssAt = await metric(admin, 'process_resident_memory_bytes');
    const sessionsGauge = await metric(admin, 'hikari_sessions');

    // 3. Watchers: W data watches on one path, 100 per connection, on the leader; a writer sets it
    //    every 100 ms. The k-th event of a watch is the k-th change: its latency is measured from the
    //    moment that change was sent (events may arrive before the writer's own answer).
    const writer = await Conn.open(leader.client);
    await writer.call('hello', { protocol: 1 });
    await writer.call('create', { path: '/bench-watched', data: Buffer.from('0'), mode: 'persistent' });
    const watchConns: Conn[] = [];
    const latency = new LatencyRecorder();
    const sentAt: bigint[] = [];
    let events = 0;
    for (let w = 0; w < watchers; w += WATCHES_PER_CONNECTION * 10) {
      await Promise.all(Array.from({ length: Math.min(10, Math.ceil((watchers - w) / WATCHES_PER_CONNECTION)) }, async (_, j) => {
        const c = await Conn.open(leader.client);
        const hello = await c.call('hello', { protocol: 1 });
        if (hello.t !== 2) throw new Error(`a watcher connection was refused: ${JSON.stringify(hello)}`);
        const seenPerWatch = new Map<number, number>();
        c.onEvent = (kind, data) => {
          if (kind !== 'watch') return;
          const id = (data as { watchId: number }).watchId;
          const n = seenPerWatch.get(id) ?? 0;
          seenPerWatch.set(id, n + 1);
          const at = sentAt[n];
          if (at !== undefined) latency.recordSince(at);
          events++;
        };
        const count = Math.min(WATCHES_PER_CONNECTION, watchers - w - j * WATCHES_PER_CONNECTION);
        await Promise.all(Array.from({ length: count }, () => c.call('watch', { path: '/bench-watched', kind: 'data' })));
        watchConns.push(c);
      }));
      ctx.progress.update(`registering watchers: ${formatCount(Math.min(watchers, w + WATCHES_PER_CONNECTION * 10))}`);
    }
    const changes = 50;
    for (let i = 1; i <= changes; i++) {
      sentAt.push(process.hrtime.bigint());
      await writer.call('set', { path: '/bench-watched', data: Buffer.from(String(i)) });
      await new Promise((res) => setTimeout(res, 100));
      ctx.progress.update(`watch fan-out: ${i} / ${changes} changes, ${formatCount(events)} events`);
    }
    await new Promise((res) => setTimeout(res, 1000));
    running = false;
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, timeoutMs / 3 + 2000))]);
    for (const c of [...conns, ...watchConns, writer]) c.socket.destroy();

    const ka = keepalive.summary();
    const ev = latency.summary();
    const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
    const rows = [
      { measure: detached ? `sessions opened (${formatCount(perConn)} detached per connection, ${formatCount(conns.length)} connections)` : 'sessions opened (one connection each)', value: `${formatCount(opened)} in ${openSeconds.toFixed(1)} s (${formatCount(Math.round(opened / openSeconds))}/s)` },
      { measure: 'sessions on the leader (gauge)', value: formatCount(sessionsGauge) },
      { measure: detached ? `keepalive calls (${formatCount(perConn)} renewals each, committed) p50 / p99` : 'keepalives (renewal committed) p50 / p99', value: `${formatMs(ka.p50Ms)} / ${formatMs(ka.p99Ms)} ms over ${formatCount(keepalive.count)}${detached ? ` calls (${formatCount(renewed)} renewals)` : ''}` },
      { measure: 'keepalive errors / sessions expired', value: `${failed} / ${expired}` },
      { measure: 'leader heap used: empty → with the sessions', value: `${mb(heapBefore)} → ${mb(heapAt)}` },
      { measure: 'leader resident memory: empty → with the sessions', value: `${mb(rssBefore)} → ${mb(rssAt)}` },
      { measure: `change → watch event, ${formatCount(watchers)} watchers, p50 / p99`, value: `${formatMs(ev.p50Ms)} / ${formatMs(ev.p99Ms)} ms over ${formatCount(latency.count)} events` },
    ];
    const failures: string[] = [];
    if (expired > 0 || failed > 0) failures.push(`${expired} sessions expired and ${failed} keepalives failed while kept alive`);
    if (latency.count < changes * watchers * 0.99) failures.push(`only ${latency.count} of ${changes * watchers} watch events arrived`);
    return {
      tables: [makeTable<{ measure: string; value: string }>([{ header: 'measure', align: 'left', value: (r) => r.measure }, { header: 'value', align: 'left', value: (r) => r.value }], rows)],
      records: rows,
      notes: [
        `${formatCount(sessions)} sessions with a ${timeoutMs / 1000} s timeout, keepalives every ${Math.round(timeoutMs / 3000)} s, on the leader of a ${ctx.options.nodes}-node cluster; the load generator and the servers share this machine's cores.`,
        detached
          ? `${formatCount(perConn)} detached sessions per connection (session.open with attach: false), all renewed by one session.keepalive { sessionIds } per connection.`
          : 'One connection per session: a node accepts 16,000 client connections (the open-file limit here is 20,000 per process), so such a run is capped at 15,000 sessions (--sessions-per-connection lifts it).',
      ],
      failures,
    };
  });
}

export const sessionsWorkload: Workload = {
  name: 'sessions',
  summary: 'concurrent sessions with keepalives, leader memory, change→watch-event latency with many watchers',
  describe: (o) => `sessions: ${o.sessions} sessions and ${o.watchers} watchers against a ${o.nodes}-node HikariKeeper cluster`,
  run,
};
