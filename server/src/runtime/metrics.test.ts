import { EntryType, message, MessageType } from '@hikarikeeper/raft';
import { Registry } from 'prom-client';
import { prometheusRuntimeMetrics, raftMessageKind } from './metrics';

describe('runtime metrics', () => {
  it('labels a Raft message by its type, an append without entries apart', () => {
    const entry = { term: 1, index: 5, type: EntryType.Normal, data: Buffer.from('x') };
    expect(raftMessageKind(message({ type: MessageType.App, from: 1, to: 2, term: 1, entries: [entry] }))).toBe('app');
    expect(raftMessageKind(message({ type: MessageType.App, from: 1, to: 2, term: 1 }))).toBe('app_empty');
    expect(raftMessageKind(message({ type: MessageType.AppResp, from: 2, to: 1, term: 1 }))).toBe('app_resp');
    expect(raftMessageKind(message({ type: MessageType.HeartbeatResp, from: 2, to: 1, term: 1 }))).toBe('heartbeat_resp');
    expect(raftMessageKind(message({ type: MessageType.ReadIndexResp, from: 1, to: 2, term: 1 }))).toBe('read_index_resp');
    expect(raftMessageKind(message({ type: MessageType.PreVote, from: 1, to: 2, term: 1 }))).toBe('pre_vote');
  });

  it('counts messages sent in hikari_raft_messages_sent_total, by kind', async () => {
    const registry = new Registry();
    const metrics = prometheusRuntimeMetrics(registry);
    metrics.messagesSent.inc({ kind: 'app' });
    metrics.messagesSent.inc({ kind: 'app' });
    metrics.messagesSent.inc({ kind: 'app_empty' });
    const text = await registry.metrics();
    expect(text).toContain('hikari_raft_messages_sent_total{kind="app"} 2');
    expect(text).toContain('hikari_raft_messages_sent_total{kind="app_empty"} 1');
  });
});
