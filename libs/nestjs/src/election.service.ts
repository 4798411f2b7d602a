/**
 * HikariElection: leader elections for the application (see the SDK's locks/election.ts), named by
 * strings. The module campaigns by itself for every election a @LeaderOnly method names, once the
 * application has started; `campaign` does the same for custom leader logic.
 *
 * ```ts
 * constructor(private readonly elections: HikariElection) {}
 * onApplicationBootstrap() {
 *   this.elections.leadership$('billing').subscribe((leading) => (leading ? this.start() : this.stop()));
 *   void this.elections.campaign('billing');
 * }
 * ```
 *
 * Standing in an election (`campaign`): the application queues as a candidate with its value (the
 * module's `instanceId` by default). It stands until it resigns (`resign`, or the application shuts
 * down): when its session expires, the leadership (or the place in the queue) is lost with it, and it
 * stands again on the new session by itself; a campaign that fails (the cluster out of reach past the
 * client's deadline) is tried again with backoff. `campaign` resolves once elected the first time.
 *
 * What `isLeader(name)` promises is the SDK's `Election.isLeader`: elected, not resigned, and the
 * session connected right now (false while it is suspended). A paused process cannot know it lost
 * leadership while paused: fence the leader's writes with `token(name)`.
 *
 * `changes$` tells every leadership gained or lost by this application; `leadership$(name)` is
 * whether it leads one election, now and at each change; `observe(name)` is who leads it, whoever that is.
 *
 * Shutdown (`beforeApplicationShutdown`): every election is resigned, so that the next candidate is
 * elected at once, before the session is closed.
 */
import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { defer, distinctUntilChanged, filter, map, Observable, startWith, Subject } from 'rxjs';
import { Election, ErrorCode, HikariError, LeaderInfo } from '@hikarikeeper/client';
import type { HikariConnection } from './connection';
import { HIKARI_CONNECTION } from './tokens';
import { backoffMs, errorText, sleep, withTimeout } from './util';

/** A leadership this application gained or lost. */
export interface LeadershipChange {
  readonly election: string;
  /** True: this application was elected; false: its leadership ended. */
  readonly leader: boolean;
  /** The leadership's fencing token. */
  readonly token: number;
  /** 'elected', or why the leadership ended: 'resigned', 'expired' (the session expired), 'closed' (the client closed). */
  readonly reason: 'elected' | 'resigned' | 'expired' | 'closed';
}

export interface CampaignOptions {
  /** What this candidate shows as leader (`leader()`, `observe()`). Default: the module's `instanceId`. */
  value?: string;
}

/** Backoff between campaigns that failed: 200 ms doubling to 10 s, with jitter. */
const RETRY_MS_INITIAL = 200;
const RETRY_MS_MAX = 10_000;

/** Longest wait for resigning at shutdown, per election, before the session is closed anyway. */
const RESIGN_WAIT_MS_MAX = 2_000;

class Candidate {
  stopped = false;
  readonly withdraw = new AbortController();
  /** Resolves with the token of the first election; rejects if the candidate stops before. */
  readonly firstElection: Promise<{ token: number }>;
  resolveFirst!: (result: { token: number }) => void;
  rejectFirst!: (error: Error) => void;
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly election: Election,
    readonly value: string,
  ) {
    this.firstElection = new Promise((resolve, reject) => {
      this.resolveFirst = resolve;
      this.rejectFirst = reject;
    });
    this.firstElection.catch(() => undefined); // whoever awaits it hears the rejection; nobody need
  }
}

@Injectable()
export class HikariElection implements BeforeApplicationShutdown {
  private readonly candidates = new Map<string, Candidate>();
  private readonly changes = new Subject<LeadershipChange>();
  private shuttingDown = false;
  /** Every leadership this application gains or loses, as it happens. */
  readonly changes$: Observable<LeadershipChange> = this.changes.asObservable();

  constructor(@Inject(HIKARI_CONNECTION) private readonly connection: HikariConnection) {}

  /**
   * Stands in election `name` (see the head comment) and resolves once elected (the token of that
   * leadership). Standing already: the same promise (resolved at once if it leads). Rejects with
   * CANCELLED if it resigns before being elected; throws HikariClusterRequiredError without a cluster.
   */
  campaign(name: string, options: CampaignOptions = {}): Promise<{ token: number }> {
    const client = this.connection.requireClient('Elections');
    const standing = this.candidates.get(name);
    if (standing !== undefined) return standing.firstElection;
    if (this.shuttingDown || this.connection.closed) {
      return Promise.reject(new HikariError(ErrorCode.CANCELLED, { election: name }, { message: 'the application is shutting down' }));
    }
    const candidate = new Candidate(name, client.election(name), options.value ?? this.connection.options.instanceId);
    this.candidates.set(name, candidate);
    this.listen(candidate);
    candidate.done = this.stand(candidate);
    return candidate.firstElection;
  }

  /** True while this application leads election `name` (see the head comment). */
  isLeader(name: string): boolean {
    return this.candidates.get(name)?.election.isLeader ?? false;
  }

  /** The fencing token of this application's leadership of `name`; null when it does not lead. */
  token(name: string): number | null {
    return this.candidates.get(name)?.election.token ?? null;
  }

  /** The elections this application stands in. */
  get standing(): string[] {
    return [...this.candidates.keys()];
  }

  /** Whether this application leads election `name`: now, then at each change. */
  leadership$(name: string): Observable<boolean> {
    return defer(() =>
      this.changes$.pipe(
        filter((change) => change.election === name),
        map(() => this.isLeader(name)),
        startWith(this.isLeader(name)),
        distinctUntilChanged(),
      ),
    );
  }

  /** The leader of election `name` now (whichever application it is), or null; linearizable. */
  leader(name: string): Promise<LeaderInfo | null> {
    return this.connection.requireClient('Elections').election(name).leader();
  }

  /**
   * The leader of election `name` now, then at each change (null while there is none); see the
   * SDK's `Election.observe`. Unsubscribing stops the watch.
   */
  observe(name: string): Observable<LeaderInfo | null> {
    const client = this.connection.requireClient('Elections');
    return new Observable<LeaderInfo | null>((subscriber) => {
      const stop = new AbortController();
      void (async () => {
        try {
          for await (const leader of client.election(name).observe({ signal: stop.signal })) subscriber.next(leader);
          subscriber.complete();
        } catch (error) {
          subscriber.error(error);
        }
      })();
      return () => stop.abort();
    });
  }

  /**
   * Stops standing in election `name`: releases the leadership (the next candidate is elected at
   * once) or leaves the queue. Nothing to do when not standing.
   */
  async resign(name: string): Promise<void> {
    const candidate = this.candidates.get(name);
    if (candidate === undefined) return;
    candidate.stopped = true;
    candidate.withdraw.abort();
    try {
      await candidate.election.resign();
    } finally {
      await candidate.done;
      if (this.candidates.get(name) === candidate) this.candidates.delete(name);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    const { logger } = this.connection.options;
    await Promise.all(
      [...this.candidates.keys()].map((name) =>
        withTimeout(this.resign(name), RESIGN_WAIT_MS_MAX).catch((error: unknown) =>
          logger.warn(`election ${name}: resigning failed (${errorText(error)}); closing the session releases it`),
        ),
      ),
    );
    this.changes.complete();
  }

  /** Tells `changes$` (and the log) what happens to the candidate. */
  private listen(candidate: Candidate): void {
    const { name, election } = candidate;
    const { logger } = this.connection.options;
    election.on('elected', ({ token }) => {
      logger.log(`elected leader of ${name} (token ${token})`);
      this.changes.next({ election: name, leader: true, token, reason: 'elected' });
    });
    election.on('lost', ({ token, reason }) => {
      logger.log(`no longer leader of ${name} (token ${token}): ${reason}`);
      this.changes.next({ election: name, leader: false, token, reason });
    });
  }

  /** The candidate's life: campaign, lead until lost, stand again after an expiry; until stopped. */
  private async stand(candidate: Candidate): Promise<void> {
    const { name, election, value, withdraw } = candidate;
    const { logger } = this.connection.options;
    let failures = 0;
    while (!candidate.stopped) {
      let onLost: ((event: { reason: string }) => void) | undefined;
      const lost = new Promise<{ reason: string }>((resolve) => (onLost = resolve));
      election.once('lost', onLost!);
      try {
        const { token } = await election.campaign(value, { signal: withdraw.signal });
        failures = 0;
        candidate.resolveFirst({ token });
        const { reason } = await lost;
        if (reason !== 'expired') break; // resigned, or the client closed
      } catch (error) {
        election.off('lost', onLost!);
        if (candidate.stopped || HikariError.is(error, ErrorCode.CANCELLED)) break;
        failures++;
        const delayMs = backoffMs(failures, RETRY_MS_INITIAL, RETRY_MS_MAX);
        logger.warn(`election ${name}: campaign failed (${errorText(error)}); standing again in ${delayMs} ms`);
        await sleep(delayMs, withdraw.signal);
      }
    }
    candidate.rejectFirst(new HikariError(ErrorCode.CANCELLED, { election: name }, { message: `stopped standing in election ${name} before being elected` }));
    if (this.candidates.get(name) === candidate && !candidate.stopped) this.candidates.delete(name); // ended by the client closing
  }
}
