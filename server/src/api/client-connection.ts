import type { Socket } from 'node:net';
import {
  decodeEnvelope, encodeEnvelope, errorEnvelope, ErrorCode, FrameDecoder, FRAME_BYTES_MAX, HikariError,
  IN_FLIGHT_REQUESTS_MAX, MessageType, validateRequest,
} from '@hikarikeeper/protocol';
import type { Dispatcher, ConnectionState } from './dispatcher';
import type { Logger } from '../logger';

/** Bytes the server may buffer for a client that does not read its responses; past it, disconnect. */
export const CLIENT_WRITE_BUFFER_BYTES_MAX = 32 * 1024 * 1024;

export interface ConnectionObserver {
  requestStarted(op: string): () => void;
  requestFailed(op: string, code: string): void;
}

/**
 * One client connection: frames in, requests dispatched concurrently (responses in any order),
 * frames out. A malformed frame is answered with BAD_FRAME and the connection closed (the byte
 * stream can no longer be trusted); a malformed request in a well-formed frame gets its coded
 * error and the connection lives on. Limits: frame size, requests in flight, unread output.
 */
export class ClientConnection {
  private readonly decoder = new FrameDecoder({ frameBytesMax: FRAME_BYTES_MAX });
  private readonly state: ConnectionState = { clientId: null, sessionId: null, sink: this };
  private inFlight = 0;
  private closed = false;
  /**
   * Frames waiting for the end of this event-loop turn: every response settled in one turn leaves in
   * one socket write (a write per response cost a sixth of the leader's CPU under load).
   */
  private outbox: Buffer[] = [];
  private outboxBytes = 0;
  private flushScheduled = false;

  constructor(
    private readonly socket: Socket,
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
    private readonly observer: ConnectionObserver,
    private readonly onClose: () => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  private onData(chunk: Buffer): void {
    let bodies: Buffer[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (e) {
      this.fatal(e);
      return;
    }
    for (const body of bodies) {
      if (this.closed) return;
      let envelope;
      try {
        envelope = decodeEnvelope(body);
      } catch (e) {
        // The envelope may still name the request id: answer that request, keep the connection.
        const id = e instanceof HikariError && typeof e.details.id === 'number' ? e.details.id : null;
        if (id === null) {
          this.fatal(e);
          return;
        }
        this.send(errorEnvelope(id, e));
        continue;
      }
      if (envelope.t !== MessageType.REQUEST) {
        this.fatal(HikariError.badFrame(`a client may only send requests, got type ${envelope.t}`));
        return;
      }
      void this.request(envelope.id, envelope.op, envelope.a);
    }
  }

  private async request(id: number, op: string, args: unknown): Promise<void> {
    if (this.inFlight >= IN_FLIGHT_REQUESTS_MAX) {
      this.send(errorEnvelope(id, new HikariError(ErrorCode.TOO_MANY_REQUESTS, { limit: IN_FLIGHT_REQUESTS_MAX })));
      return;
    }
    this.inFlight++;
    const done = this.observer.requestStarted(op);
    try {
      const req = validateRequest(op, args, this.dispatcher.limits);
      const result = await this.dispatcher.handle(this.state, req);
      this.send({ t: MessageType.RESPONSE, id, r: result });
    } catch (e) {
      if (!(e instanceof HikariError)) this.log.error({ op, err: e instanceof Error ? e.stack : String(e) }, 'request failed unexpectedly');
      this.observer.requestFailed(op, e instanceof HikariError ? e.code : ErrorCode.INTERNAL);
      this.send(errorEnvelope(id, e));
    } finally {
      this.inFlight--;
      done();
    }
  }

  private send(envelope: Parameters<typeof encodeEnvelope>[0]): void {
    if (this.closed) return;
    let frame: Buffer;
    try {
      frame = encodeEnvelope(envelope);
    } catch (e) {
      // A result too large for one frame: tell the client instead.
      if (envelope.t === MessageType.RESPONSE) frame = encodeEnvelope(errorEnvelope(envelope.id, e));
      else throw e;
    }
    this.outbox.push(frame);
    this.outboxBytes += frame.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || this.closed) return;
    const frames = this.outbox;
    const bytes = this.outboxBytes;
    this.outbox = [];
    this.outboxBytes = 0;
    this.socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames, bytes));
    if (this.socket.writableLength > CLIENT_WRITE_BUFFER_BYTES_MAX) {
      this.log.warn({ remote: this.socket.remoteAddress, buffered: this.socket.writableLength }, 'client does not read its responses; disconnecting');
      this.close();
    }
  }

  /** Sends a server-pushed event (watches, sessions, locks). */
  pushEvent(kind: string, data: unknown): void {
    this.send({ t: MessageType.EVENT, k: kind, d: data });
  }

  private fatal(e: unknown): void {
    this.send(errorEnvelope(0, e instanceof HikariError ? e : HikariError.badFrame(String(e))));
    this.flush();
    this.socket.end();
    this.close();
  }

  /** This connection's view for the dispatcher and the session bindings. */
  get connectionState(): ConnectionState {
    return this.state;
  }

  close(): void {
    if (this.closed) return;
    if (!this.socket.destroyed) this.flush(); // what was said before closing still leaves
    this.closed = true;
    this.dispatcher.disconnected(this.state);
    this.socket.destroySoon?.();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClose();
  }
}
