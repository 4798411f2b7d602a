/**
 * The Raft loop's storage writes in flight (each with its completion step: what needs the write on
 * disk), for the three ways the node waits on them:
 *
 * - `settled()`: the writes in flight now — what a reader waits for to see everything applied before
 *   it asked (writes reach disk in order, so the newest of them covers every earlier Ready). Writes
 *   handed off later are not waited for: under a steady stream of writes there is always a newer one.
 * - `drained()`: until none is in flight — before a snapshot is installed, or the store closed, when
 *   no new write can start.
 * - `oldest()`: the first of them to finish — back-pressure on the loop.
 */
export class WritesInFlight {
  private readonly writes = new Set<Promise<void>>();

  get size(): number {
    return this.writes.size;
  }

  /** Tracks `write` until it settles; returns it (tracked: it leaves the set as it settles). */
  track(write: Promise<void>): Promise<void> {
    const tracked = write.finally(() => {
      this.writes.delete(tracked);
    });
    this.writes.add(tracked);
    return tracked;
  }

  /** Resolves once the writes in flight at the call have settled (whatever their outcome). */
  async settled(): Promise<void> {
    if (this.writes.size > 0) await Promise.allSettled([...this.writes]);
  }

  /** Resolves once no write is in flight. */
  async drained(): Promise<void> {
    while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
  }

  /** Resolves (never rejects) once any write in flight has settled; at once if none is. */
  async oldest(): Promise<void> {
    if (this.writes.size > 0) await Promise.race([...this.writes].map((w) => w.then(() => undefined, () => undefined)));
  }
}
