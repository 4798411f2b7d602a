/**
 * A TCP socket carrying length-prefixed frames (the protocol package's `encodeFrame`/`FrameDecoder`).
 *
 * Contract:
 * - `onFrame` receives each body in order. While no handler is set, the socket is paused and bodies
 *   already read are held, then replayed when one is set (so that a handshake can hand the socket
 *   over from one owner to the next without losing the frames that followed the answer).
 * - A handler that throws, a malformed stream (TOO_LARGE, BAD_FRAME) or a socket error closes the
 *   socket; `onClose` is then called exactly once, with the first error (null for a clean close).
 * - `write` returns false once the socket buffer is full (or the socket closed): the owner waits
 *   for `onDrain` before writing more, so that nothing grows without bound in user space.
 */
import * as net from 'node:net';
import { encodeFrame, ErrorCode, FrameDecoder, HikariError } from '@hikarikeeper/protocol';

export type FrameHandler = (body: Buffer) => void;

export class FramedSocket {
  onDrain: () => void = () => {};
  private onFrame: FrameHandler | null = null;
  private decoder: FrameDecoder;
  private frameBytesMax: number;
  /** Bodies decoded and not yet handed to `onFrame`, oldest first. */
  private held: Buffer[] = [];
  private delivering = false;
  private error: Error | null = null;
  private isClosed = false;
  private closeHandlers: Array<(error: Error | null) => void> = [];

  constructor(
    readonly socket: net.Socket,
    frameBytesMax: number,
  ) {
    this.frameBytesMax = frameBytesMax;
    this.decoder = new FrameDecoder({ frameBytesMax });
    socket.pause();
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (error) => this.recordError(error));
    socket.on('close', () => this.closed());
  }

  get isOpen(): boolean {
    return !this.isClosed && !this.socket.destroyed;
  }

  /** Sets (or clears, with null) the frame handler; held frames are delivered to a new handler at once. */
  setFrameHandler(handler: FrameHandler | null): void {
    this.onFrame = handler;
    if (handler === null) {
      this.socket.pause();
      return;
    }
    this.deliver();
    if (this.isOpen && this.onFrame === handler) this.socket.resume();
  }

  /**
   * Changes the largest frame accepted from now on. Only at a frame boundary with nothing buffered
   * (after a handshake frame, before the peer may send more): otherwise throws BAD_FRAME.
   */
  setFrameBytesMax(frameBytesMax: number): void {
    if (frameBytesMax === this.frameBytesMax) return;
    if (this.decoder.bufferedBytes > 0 || this.held.length > 0) {
      throw HikariError.badFrame('the peer sent frames before the handshake completed');
    }
    this.frameBytesMax = frameBytesMax;
    this.decoder = new FrameDecoder({ frameBytesMax });
  }

  /**
   * Frames `body` and writes it; false when the socket buffer is full or the socket is closed.
   * Throws TOO_LARGE over the frame limit (both ends of a connection use the same limit).
   */
  write(body: Uint8Array): boolean {
    if (!this.isOpen) return false;
    return this.socket.write(encodeFrame(body, this.frameBytesMax));
  }

  /** Writes a last frame, then closes once it has been flushed to the kernel. */
  writeAndEnd(body: Uint8Array): void {
    if (!this.isOpen) return;
    this.socket.end(encodeFrame(body, this.frameBytesMax), () => this.socket.destroy());
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (this.onFrame !== null && this.isOpen) this.socket.resume();
  }

  /** Closes at once (pending writes are discarded); `error` is what `onClose` reports. */
  close(error: Error | null = null): void {
    if (error !== null) this.recordError(error);
    this.socket.destroy();
  }

  /** Calls `handler` once the socket is closed (at once if it already is). */
  onClose(handler: (error: Error | null) => void): void {
    if (this.isClosed) handler(this.error);
    else this.closeHandlers.push(handler);
  }

  private receive(chunk: Buffer): void {
    try {
      this.held.push(...this.decoder.push(chunk));
    } catch (error) {
      this.close(asError(error));
      return;
    }
    this.deliver();
  }

  private deliver(): void {
    if (this.delivering) return; // a handler set from inside a handler: the running loop continues
    this.delivering = true;
    try {
      while (this.held.length > 0 && this.onFrame !== null && this.isOpen) {
        const body = this.held.shift()!;
        this.onFrame(body);
      }
    } catch (error) {
      this.close(asError(error));
    } finally {
      this.delivering = false;
    }
    if (this.onFrame === null) this.socket.pause();
  }

  private recordError(error: Error): void {
    if (this.error === null) this.error = error;
  }

  private closed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.held = [];
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const handler of handlers) handler(this.error);
  }
}

function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  return new HikariError(ErrorCode.INTERNAL, { reason: String(error) });
}
