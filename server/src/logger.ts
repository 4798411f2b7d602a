/** The logging port (pino-compatible): structured fields first, then a message. */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  child?(bindings: object): Logger;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/**
 * Warnings about events a client can cause at will (refused requests, refused connections): at most
 * `linesPerSecond` lines a second, the rest counted and reported in one line when the next second
 * starts, so that a flood of bad requests cannot flood the log.
 */
export class ThrottledLog {
  private windowStartMs = 0;
  private lines = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Pick<Logger, 'warn'>,
    private readonly linesPerSecond = 20,
    private readonly nowMs: () => number = Date.now,
  ) {}

  warn(fields: object, message: string): void {
    const now = this.nowMs();
    if (now - this.windowStartMs >= 1000) {
      if (this.suppressed > 0) this.log.warn({ suppressed: this.suppressed }, 'more of the same warnings (not logged one by one)');
      this.windowStartMs = now;
      this.lines = 0;
      this.suppressed = 0;
    }
    if (this.lines++ < this.linesPerSecond) this.log.warn(fields, message);
    else this.suppressed++;
  }
}
