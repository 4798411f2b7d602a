/**
 * Calls waiting to be sent, in two FIFO lanes: calls to send again (their connection was lost, or
 * they were told to retry) go before new calls, since they are older. Removal of any call (timeout,
 * abort) is O(1): JavaScript Sets iterate in insertion order.
 *
 * Only new calls count against the bound checked by the dispatcher: a call already admitted is
 * never refused for lack of room when it has to be sent again.
 */
export class RequestQueue<T> {
  private readonly again = new Set<T>();
  private readonly fresh = new Set<T>();

  /** New calls waiting for their first send. */
  get freshCount(): number {
    return this.fresh.size;
  }

  get size(): number {
    return this.again.size + this.fresh.size;
  }

  pushFresh(item: T): void {
    this.fresh.add(item);
  }

  pushAgain(item: T): void {
    this.again.add(item);
  }

  /** The call to send next, without removing it. */
  peek(): T | undefined {
    for (const item of this.again) return item;
    for (const item of this.fresh) return item;
    return undefined;
  }

  delete(item: T): void {
    if (!this.again.delete(item)) this.fresh.delete(item);
  }
}
