/**
 * The receiving end of one snapshot connection (see snapshot-sender.ts for the exchange). It hands
 * `onSnapshot` a SnapshotStream whose chunks come from a ChunkChannel: the socket is paused while
 * the consumer is behind, so memory stays near `snapshotBufferedBytesMax` whatever the snapshot's
 * size. Once `onSnapshot` settles, the answer (ok or the error) is sent and the connection closed.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { Message, MessageType, NodeId } from '@hikarikeeper/raft';
import { ChunkChannel } from './chunk-channel';
import { decodeSnapshotFrame, encodeSnapshotAck } from './control-frames';
import { FramedSocket } from './framed-socket';
import { asHikariError } from './handshake';
import type { TcpTransportLimits } from './limits';
import type { TransportCounters } from './stats';
import type { TransportHandler, TransportLogger } from './transport';

export interface SnapshotReceiveContext {
  readonly self: NodeId;
  readonly limits: TcpTransportLimits;
  readonly logger: TransportLogger;
  readonly counters: TransportCounters;
  readonly handler: TransportHandler;
}

export class SnapshotReceiver {
  private snap = -1;
  private channel: ChunkChannel | null = null;
  private received = 0;
  private ended = false;
  private settled = false;

  constructor(
    private readonly ctx: SnapshotReceiveContext,
    readonly from: NodeId,
    private readonly framed: FramedSocket,
    /** Called once, when the connection is closed. */
    private readonly onDone: (receiver: SnapshotReceiver) => void,
  ) {
    framed.socket.setTimeout(ctx.limits.snapshotIdleTimeoutMs, () =>
      framed.close(new HikariError(ErrorCode.TIMEOUT, { reason: 'snapshot stream idle' })),
    );
    framed.onClose((error) => this.closed(error));
    framed.setFrameHandler((body) => this.frame(body));
  }

  /** Aborts the transfer (transport stopping, peer removed, superseded): the consumer's iteration throws. */
  abort(error: HikariError): void {
    this.channel?.fail(error);
    this.framed.close(error);
  }

  private frame(body: Buffer): void {
    const f = decodeSnapshotFrame(body);
    if ('message' in f) return this.header(f.snap, f.message);
    if (this.channel === null || f.snap !== this.snap) throw HikariError.badFrame('snapshot chunk without its header');
    if (this.ended) throw HikariError.badFrame('snapshot chunk after the last one');
    if (f.offset !== this.received) throw HikariError.badFrame(`chunk at ${f.offset}, expected ${this.received}`);
    if (f.data.length > this.ctx.limits.snapshotChunkBytesMax) {
      throw HikariError.tooLarge('snapshot chunk', f.data.length, this.ctx.limits.snapshotChunkBytesMax);
    }
    this.received += f.data.length;
    this.channel.push(f.data);
    this.ctx.counters.snapshotBufferedBytesPeak = Math.max(this.ctx.counters.snapshotBufferedBytesPeak, this.channel.peakBufferedBytes);
    if (!f.last) return;
    this.ended = true;
    this.channel.end();
    this.framed.socket.setTimeout(0); // installing may take long; the sender bounds its own wait
  }

  private header(snap: number, message: Message): void {
    if (this.channel !== null) throw HikariError.badFrame('a second snapshot header');
    if (message.type !== MessageType.Snap || message.snapshot === null) throw HikariError.badFrame('the header is not a Snap message');
    if (message.from !== this.from || message.to !== this.ctx.self) throw HikariError.badFrame('the Snap message is not from the peer to this node');
    this.snap = snap;
    const framed = this.framed;
    const channel = new ChunkChannel(
      this.ctx.limits.snapshotBufferedBytesMax,
      () => {
        this.ctx.counters.snapshotReceivePauses++;
        framed.pause();
      },
      () => framed.resume(),
    );
    this.channel = channel;
    Promise.resolve()
      .then(() => this.ctx.handler.onSnapshot(this.from, { message, chunks: channel }))
      .then(
        () => this.answer(null),
        (error: unknown) => this.answer(error),
      );
  }

  private answer(error: unknown): void {
    this.settled = true;
    this.channel?.fail(new HikariError(ErrorCode.CANCELLED, { reason: 'the consumer settled before the end' }));
    if (error === null) {
      this.ctx.counters.snapshotsReceived++;
      this.ctx.logger.info({ peer: this.from, snap: this.snap, bytes: this.received }, 'snapshot received');
    } else {
      this.ctx.counters.snapshotsReceiveFailed++;
      this.ctx.logger.warn({ peer: this.from, snap: this.snap, err: error }, 'snapshot not installed');
    }
    const hikari = error === null ? null : HikariError.is(error) ? error : new HikariError(ErrorCode.INTERNAL, {}, { cause: error });
    this.framed.setFrameHandler(() => {}); // whatever still arrives is moot
    this.framed.writeAndEnd(encodeSnapshotAck({ snap: this.snap, ok: error === null, error: hikari }));
  }

  private closed(error: Error | null): void {
    if (!this.ended && !this.settled) {
      const reason = asHikariError(error ?? new Error('the sender closed the connection before the last chunk'));
      this.channel?.fail(reason);
      if (this.channel === null) this.ctx.logger.warn({ peer: this.from, err: reason }, 'snapshot connection closed before its header');
    }
    this.onDone(this);
  }
}
