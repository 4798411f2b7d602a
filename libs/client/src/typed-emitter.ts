/**
 * The event side shared by the SDK's long-lived objects (Watch, Election, ServiceWatch, ServiceCache,
 * InstanceHandle): typed `on`/`once`/`off`, and an `emit` that a throwing listener cannot disturb —
 * its error is rethrown on a later tick (an uncaught exception, as Node's own emitters would raise),
 * never into the SDK's state handling.
 */
import { EventEmitter } from 'node:events';

export class TypedEmitter<Events extends object> {
  private readonly emitter = new EventEmitter();

  on<E extends keyof Events & string>(event: E, listener: (payload: Events[E]) => void): this {
    this.emitter.on(event, listener);
    return this;
  }

  once<E extends keyof Events & string>(event: E, listener: (payload: Events[E]) => void): this {
    this.emitter.once(event, listener);
    return this;
  }

  off<E extends keyof Events & string>(event: E, listener: (payload: Events[E]) => void): this {
    this.emitter.off(event, listener);
    return this;
  }

  protected listenerCount(event: keyof Events & string): number {
    return this.emitter.listenerCount(event);
  }

  protected emit<E extends keyof Events & string>(event: E, payload: Events[E]): void {
    try {
      this.emitter.emit(event, payload);
    } catch (error) {
      process.nextTick(() => {
        throw error;
      });
    }
  }
}
