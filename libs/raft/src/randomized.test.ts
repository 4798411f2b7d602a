/**
 * A small randomized smoke test on the in-memory network (the full simulator lives in test/sim):
 * messages are dropped, delayed, reordered and duplicated; nodes crash, restart and get partitioned;
 * the leader compacts its log, changes the membership and hands leadership over. The network checks
 * safety on every applied entry (no two nodes apply different entries at one index, no gaps), any
 * broken invariant in the core throws, and once everything heals a leader must emerge and commit.
 */
import { ConfChangeType } from './conf-change';
import { RaftError } from './errors';
import { SeededRandom } from './random';
import { Message, MessageType } from './types';
import { bytes, Network } from './testing/network';

const FOUNDERS = 3;
const SPARES = 2; // empty nodes that membership changes may add

/** Runs `fn`, ignoring the RaftErrors a busy application would see and retry (NOT_LEADER, ...). */
function attempt(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof RaftError)) throw e;
  }
}

function run(seed: number, n: number, ticks: number): Network {
  const rnd = new SeededRandom(seed);
  const all = n + SPARES;
  const net = Network.bootstrap(
    Array.from({ length: n }, (_, i) => i + 1),
    { seed },
  );
  for (let id = n + 1; id <= all; id++) net.addNode(id);

  // The snapshot transport: delivers a Snap (or fails to) and tells the sender, as a real one must.
  const reportSnap = (m: Message, ok: boolean) => {
    if (!net.isDown(m.from)) net.raw(m.from).reportSnapshot(m.to, ok);
  };
  net.onBlocked = (m) => m.type === MessageType.Snap && reportSnap(m, false);
  const snapTransport = (m: Message): boolean => {
    if (m.type !== MessageType.Snap) return true;
    const ok = rnd.chance(0.7);
    if (ok) net.raw(m.to).step(m);
    reportSnap(m, ok);
    return false;
  };
  const delayed: Message[] = [];
  const chaos = (m: Message): boolean => {
    const r = rnd.next();
    if (r < 0.1) return false; // lost
    if (r < 0.3) delayed.push(m); // delivered later: delayed (so reordered), or also now: duplicated
    return r >= 0.2;
  };
  net.filters = [snapTransport, chaos];

  let proposals = 0;
  for (let t = 0; t < ticks; t++) {
    for (const id of net.upIds) net.raw(id).tick();
    for (let k = delayed.length - 1; k >= 0; k--) {
      if (!rnd.chance(0.3)) continue;
      const [m] = delayed.splice(k, 1);
      if (!net.isDown(m.to)) net.raw(m.to).step(m);
    }
    const l = net.leader();
    if (l !== undefined) {
      if (rnd.chance(0.5)) attempt(() => net.raw(l).propose(bytes(`p${proposals++}`)));
      if (rnd.chance(0.02)) attempt(() => net.raw(l).readIndex(`r${t}`));
      if (rnd.chance(0.03)) {
        const types = [ConfChangeType.AddLearner, ConfChangeType.AddVoter, ConfChangeType.Remove];
        attempt(() => net.raw(l).proposeConfChange({ type: types[rnd.nextInt(3)], nodeId: 1 + rnd.nextInt(all), context: '' }));
      }
      if (rnd.chance(0.01)) attempt(() => net.raw(l).transferLeadership(1 + rnd.nextInt(all)));
      const node = net.node(l);
      if (rnd.chance(0.01) && node.appliedIndex > node.storage.snapshot().metadata.index + 5) {
        node.storage.createSnapshot(node.appliedIndex, node.confState, bytes(`state@${node.appliedIndex}`));
        node.storage.compact(node.appliedIndex - 2);
      }
    }
    if (rnd.chance(0.01)) {
      const id = 1 + rnd.nextInt(all);
      if (!net.isDown(id)) net.crash(id);
    }
    if (rnd.chance(0.05)) for (const id of net.ids) if (net.isDown(id)) net.restart(id);
    if (rnd.chance(0.01)) net.isolate(1 + rnd.nextInt(all));
    if (rnd.chance(0.03)) net.heal();
    net.stabilize();
  }

  // Heal everything: a leader must emerge and commit a new entry on every voter.
  net.heal();
  net.filters = [snapTransport];
  for (const id of net.ids) if (net.isDown(id)) net.restart(id);
  let index = 0;
  let leader: number | undefined;
  for (let t = 0; t < 300 && index === 0; t++) {
    net.tick(1);
    leader = net.leader();
    if (leader !== undefined) attempt(() => (index = net.raw(leader!).propose(bytes('final'))));
  }
  expect(index).toBeGreaterThan(0);
  net.tick(100);
  for (const id of net.raw(leader!).status().conf.voters) expect([id, net.node(id).appliedIndex >= index]).toEqual([id, true]);
  return net;
}

describe('randomized faults (smoke)', () => {
  it.each(Array.from({ length: 40 }, (_, i) => i + 1))('seed %i', (seed) => {
    const net = run(seed, seed % 2 === 1 ? FOUNDERS : FOUNDERS + 2, 300);
    expect(net.leader()).toBeDefined();
  });
});
