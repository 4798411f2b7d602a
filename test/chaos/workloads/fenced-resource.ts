/**
 * A resource outside HikariKeeper guarded by fencing tokens (think of a SQL row): it keeps the
 * highest token it has seen and, in the same step as each read or write, refuses an older one
 * (the SDK's `assertFence`). A read counts as a use of the token too: a holder that read the value
 * under token 7 must not write it back once someone has read it under token 8, or the write would
 * lose that holder's update.
 *
 * `unsafe` turns the check off (a resource that trusts whoever says they hold the lock), so that a
 * test can prove the lock checks catch the lost updates that follow.
 */
import { assertFence } from '@hikarikeeper/client';
import { now } from '../time';

export interface ResourceEvent {
  readonly time: number;
  readonly process: string;
  readonly kind: 'read' | 'write';
  readonly token: number;
  readonly accepted: boolean;
  /** The value before the operation (what a read returned). */
  readonly before: number;
  /** For a write: the value written; for a read: the value read. */
  readonly value: number;
  /** The highest token accepted before this operation. */
  readonly maxBefore: number | null;
}

export class FencedResource {
  value = 0;
  private maxToken: number | null = null;
  readonly events: ResourceEvent[] = [];

  constructor(readonly name: string, private readonly unsafe: boolean) {}

  /** The value, under `token`; throws FENCE_MISMATCH for a token older than one seen. */
  read(process: string, token: number): number {
    this.use(process, 'read', token, this.value);
    return this.value;
  }

  /** Writes `value` under `token`; throws FENCE_MISMATCH for a token older than one seen. */
  write(process: string, token: number, value: number): void {
    this.use(process, 'write', token, value);
    this.value = value;
  }

  private use(process: string, kind: 'read' | 'write', token: number, value: number): void {
    const maxBefore = this.maxToken;
    const event = { time: now(), process, kind, token, before: this.value, value, maxBefore };
    try {
      this.maxToken = this.unsafe ? Math.max(token, maxBefore ?? 0) : assertFence(token, maxBefore);
    } catch (e) {
      this.events.push({ ...event, accepted: false });
      throw e;
    }
    this.events.push({ ...event, accepted: true });
  }
}
