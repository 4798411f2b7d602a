import type { Socket } from 'node:net';
import {
  decodeEnvelope, encodeEnvelope, errorEnvelope, ErrorCode, FrameDecoder, FRAME_BYTES_MAX, HikariError,
  IN_FLIGHT_BYTES_MAX, IN_FLIGHT_REQUESTS_MAX, MessageType, validateRequest,
} from '@hikarikeeper/protocol';
import type { Dispatcher, ConnectionState } from './dispatcher';
import type { Logger } from '../logger';
import { certSubjectOf } from '../auth/tls';
import { HELLO_TIMEOUT_MS, LimitName, limitOf } from './connection-limits';

/** Bytes the server may buffer for a client that does not read its responses; past it, disconnect. */
export const CLIENT_WRITE_BUFFER_BYTES_MAX = 32 * 1024 * 1024;

export interface ConnectionObserver {
  requestStarted(op: string): () => void;
  requestFailed(op: string, code: string): void;
  /** A limit tripped: a request refused over it, or the connection closed over it. */
  limitExceeded(limit: LimitName): void;
}

/**
 * One client connection: frames in, requests dispatched concurrently (responses in any order),
 * frames out. A malformed frame is answered with BAD_FRAME and the connection closed (the byte
 * stream can no longer be trusted); a malformed request in a well-formed frame gets its coded
 * error and the connection lives on. Limits: frame size, requests (and request bytes) in flight,
 * unread output (past it the client is disconnected: a client that stops reading cannot make the
 * node buffer without bound), time to `hello`.
 */
export class ClientConnection {
  private readonly decoder = new FrameDecoder({ frameBytesMax: FRAME_BYTES_MAX });
  private readonly state: ConnectionState;
  private inFlight = 0;
  private inFlightBytes = 0;
  private closed = false;
  private helloTimer: NodeJS.Timeout | null;
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
    this.state = { clientId: null, sessionId: null, sink: this, principal: null, certSubject: certSubjectOf(socket), remote: socket.remoteAddress };
    this.helloTimer = setTimeout(() => {
      this.helloTimer = null;
      if (this.state.clientId !== null) return;
      this.observer.limitExceeded('hello timeout');
      this.fatal(new HikariError(ErrorCode.TIMEOUT, { reason: `no successful hello within ${HELLO_TIMEOUT_MS} ms` }));
    }, HELLO_TIMEOUT_MS);
    this.helloTimer.unref();
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return; // closing: what still arrives is read and dropped (see close)
    let bodies: Buffer[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (e) {
      this.observer.limitExceeded(HikariError.is(e, ErrorCode.TOO_LARGE) ? 'frame bytes' : 'malformed frame');
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
          this.observer.limitExceeded('malformed frame');
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
      void this.request(envelope.id, envelope.op, envelope.a, body.length);
    }
  }

  private async request(id: number, op: string, args: unknown, bytes: number): Promise<void> {
    if (this.inFlight >= IN_FLIGHT_REQUESTS_MAX || this.inFlightBytes + bytes > IN_FLIGHT_BYTES_MAX) {
      const overCount = this.inFlight >= IN_FLIGHT_REQUESTS_MAX;
      this.observer.limitExceeded(overCount ? 'in-flight requests' : 'in-flight bytes');
      this.send(errorEnvelope(id, new HikariError(ErrorCode.TOO_MANY_REQUESTS, overCount ? { limit: IN_FLIGHT_REQUESTS_MAX } : { what: 'bytes', limit: IN_FLIGHT_BYTES_MAX })));
      return;
    }
    this.inFlight++;
    this.inFlightBytes += bytes;
    const done = this.observer.requestStarted(op);
    try {
      const req = validateRequest(op, args, this.dispatcher.limits);
      const result = await this.dispatcher.handle(this.state, req);
      this.send({ t: MessageType.RESPONSE, id, r: result });
    } catch (e) {
      if (!(e instanceof HikariError)) this.log.error({ op, err: e instanceof Error ? e.stack : String(e) }, 'request failed unexpectedly');
      this.observer.requestFailed(op, e instanceof HikariError ? e.code : ErrorCode.INTERNAL);
      const limit = e instanceof HikariError ? limitOf(e) : null;
      if (limit !== null) this.observer.limitExceeded(limit);
      this.send(errorEnvelope(id, e));
    } finally {
      this.inFlight--;
      this.inFlightBytes -= bytes;
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
    // Checked as answers pile up, not only at the flush: many large answers settled in one turn
    // must not be concatenated into one huge write first.
    if (this.outboxBytes + this.socket.writableLength > CLIENT_WRITE_BUFFER_BYTES_MAX) {
      this.overflow();
      return;
    }
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
    if (this.socket.writableLength > CLIENT_WRITE_BUFFER_BYTES_MAX) this.overflow();
  }

  /** The client does not read its answers: drop what waits and disconnect, rather than buffer on. */
  private overflow(): void {
    this.log.warn({ remote: this.state.remote, buffered: this.socket.writableLength + this.outboxBytes }, 'client does not read its responses; disconnecting');
    this.observer.limitExceeded('unread response bytes');
    this.outbox = [];
    this.outboxBytes = 0;
    this.close();
    this.socket.destroy();
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
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.dispatcher.disconnected(this.state);
    // Half-close and keep reading until the client closes too (or a second passes): destroying a
    // socket with unread input resets it, and the client could lose the error that explains why.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClose();
  }
}
