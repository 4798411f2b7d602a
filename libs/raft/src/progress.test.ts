import { Progress, ProgressState } from './progress';

function progress(state: ProgressState, match: number, next: number, opts: { inflight?: number; pendingSnapshot?: number } = {}): Progress {
  const pr = new Progress(next, opts.inflight ?? 256, 0, false);
  pr.match = match;
  if (state === ProgressState.Replicate) {
    pr.becomeReplicate();
    pr.next = next;
  } else if (state === ProgressState.Snapshot) {
    pr.becomeSnapshot(opts.pendingSnapshot ?? 0);
    pr.next = next;
  }
  return pr;
}

describe('Progress', () => {
  describe('maybeUpdate', () => {
    it.each([
      // match, next, acked index -> updated, match, next
      [3, 5, 2, false, 3, 5], // older than match: nothing moves
      [3, 5, 3, false, 3, 5], // same as match
      [3, 5, 4, true, 4, 5], // match moves, next stays ahead
      [3, 5, 7, true, 7, 8], // beyond next: next follows
    ])('match %i next %i, ack %i -> updated %s, match %i, next %i', (match, next, ack, updated, wantMatch, wantNext) => {
      const pr = progress(ProgressState.Probe, match, next);
      expect(pr.maybeUpdate(ack)).toBe(updated);
      expect(pr.match).toBe(wantMatch);
      expect(pr.next).toBe(wantNext);
    });

    it('an ack that moves match unpauses a probe', () => {
      const pr = progress(ProgressState.Probe, 3, 4);
      pr.sentEntries(1, 10);
      expect(pr.isPaused()).toBe(true);
      pr.maybeUpdate(4);
      expect(pr.isPaused()).toBe(false);
    });
  });

  describe('maybeDecrTo in Replicate', () => {
    it('ignores a stale rejection (rejected index <= match)', () => {
      const pr = progress(ProgressState.Replicate, 5, 10);
      expect(pr.maybeDecrTo(5, 5)).toBe(false);
      expect(pr.maybeDecrTo(3, 0)).toBe(false);
      expect(pr.next).toBe(10);
      expect(pr.match).toBe(5);
    });

    it('a real rejection sends next back to match + 1', () => {
      const pr = progress(ProgressState.Replicate, 5, 10);
      expect(pr.maybeDecrTo(9, 9)).toBe(true);
      expect(pr.next).toBe(6);
    });
  });

  describe('maybeDecrTo in Probe', () => {
    it.each([
      // match, next, rejected, hint -> accepted, next
      [0, 10, 5, 5, false, 10], // rejected != next - 1: a stale answer to an older probe
      [0, 10, 10, 5, false, 10],
      [0, 10, 9, 9, true, 9], // hint at the rejected index: step back one
      [0, 10, 9, 4, true, 5], // hint lower: jump to hint + 1
      [0, 10, 9, 100, true, 9], // a hint above the rejected index never moves next up
      [6, 10, 9, 2, true, 7], // never below match + 1
      [0, 1, 0, 0, true, 1], // never below 1
    ])('match %i next %i, rejected %i hint %i -> %s, next %i', (match, next, rejected, hint, accepted, wantNext) => {
      const pr = progress(ProgressState.Probe, match, next);
      pr.sentEntries(0, 0);
      expect(pr.isPaused()).toBe(true);
      expect(pr.maybeDecrTo(rejected, hint)).toBe(accepted);
      expect(pr.next).toBe(wantNext);
      // A real rejection answers the outstanding probe: the next probe may go out.
      expect(pr.isPaused()).toBe(!accepted);
    });
  });

  describe('state transitions', () => {
    it('becomeReplicate starts right after match with an empty window', () => {
      const pr = progress(ProgressState.Probe, 4, 9);
      pr.becomeReplicate();
      expect(pr.state).toBe(ProgressState.Replicate);
      expect(pr.next).toBe(5);
      expect(pr.inflights.count).toBe(0);
    });

    it('becomeProbe from Replicate restarts right after match', () => {
      const pr = progress(ProgressState.Replicate, 4, 9);
      pr.sentEntries(2, 20);
      pr.becomeProbe();
      expect(pr.state).toBe(ProgressState.Probe);
      expect(pr.next).toBe(5);
      expect(pr.inflights.count).toBe(0);
      expect(pr.isPaused()).toBe(false);
    });

    it.each([
      // match, pending snapshot -> next
      [1, 10, 11], // the snapshot was delivered: continue after it
      [12, 10, 13], // match already past the snapshot
      [1, 0, 2], // snapshot failed (pending cleared): probe after match
    ])('becomeProbe from Snapshot: match %i, pending %i -> next %i', (match, pending, wantNext) => {
      const pr = progress(ProgressState.Snapshot, match, match + 1, { pendingSnapshot: pending });
      expect(pr.isPaused()).toBe(true);
      pr.becomeProbe();
      expect(pr.state).toBe(ProgressState.Probe);
      expect(pr.pendingSnapshot).toBe(0);
      expect(pr.next).toBe(wantNext);
    });

    it('a progress in Snapshot state is always paused', () => {
      const pr = progress(ProgressState.Snapshot, 0, 1, { pendingSnapshot: 7 });
      expect(pr.pendingSnapshot).toBe(7);
      pr.maybeUpdate(3);
      expect(pr.isPaused()).toBe(true);
    });
  });

  describe('sentEntries', () => {
    it('in Probe, any send pauses until an answer', () => {
      const pr = progress(ProgressState.Probe, 0, 1);
      pr.sentEntries(3, 30);
      expect(pr.isPaused()).toBe(true);
      expect(pr.next).toBe(1); // a probe does not move next optimistically
    });

    it('in Replicate, next moves optimistically and the window fills', () => {
      const pr = progress(ProgressState.Replicate, 0, 1, { inflight: 2 });
      pr.sentEntries(3, 30);
      expect(pr.next).toBe(4);
      expect(pr.isPaused()).toBe(false);
      pr.sentEntries(0, 0); // an empty append takes no slot
      expect(pr.inflights.count).toBe(1);
      pr.sentEntries(2, 20);
      expect(pr.next).toBe(6);
      expect(pr.isPaused()).toBe(true);
    });

    it('in Replicate, an ack that frees no slot of a full window leaves it paused', () => {
      // Window of 2: messages ending at 3 and 5 in flight. An ack of 2 (e.g. a follower answering a
      // duplicated old append with its commit index) moves match but frees nothing: sending more
      // would overflow the window.
      const pr = progress(ProgressState.Replicate, 0, 1, { inflight: 2 });
      pr.sentEntries(3, 30);
      pr.sentEntries(2, 20);
      expect(pr.isPaused()).toBe(true);
      expect(pr.maybeUpdate(2)).toBe(true);
      pr.inflights.freeLE(2);
      expect(pr.isPaused()).toBe(true);
      pr.inflights.freeLE(3);
      expect(pr.isPaused()).toBe(false);
    });
  });
});
