/**
 * Ending a client's session from outside, on a real cluster: what the server does when a session
 * expires, without waiting for its timeout (the contract suites' `expireHolder` / `expireSession`).
 * The client hears that its session ended, and opens a new one, as after an expiry.
 *
 * This folder is not part of the build: it is imported by test files only.
 */
import { connect as connectSocket, Socket } from 'node:net';
import { decodeEnvelope, encodeEnvelope, Envelope, FrameDecoder, MessageType, PROTOCOL_VERSION } from '@hikarikeeper/protocol';

/**
 * Ends session `sessionId` through a connection of its own to `address` (the leader): hello,
 * `session.resume` (binds the session there too), `session.close`. Throws with the node's error.
 */
export async function closeSession(address: string, sessionId: string, clusterId: string): Promise<void> {
  const [host, port] = address.split(':');
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connectSocket(Number(port), host, () => resolve(s));
    s.once('error', reject);
  });
  const decoder = new FrameDecoder();
  const answers = new Map<number, Envelope>();
  let wake: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    for (const body of decoder.push(chunk)) {
      const envelope = decodeEnvelope(body);
      if (envelope.t === MessageType.RESPONSE || envelope.t === MessageType.ERROR) answers.set(envelope.id, envelope);
    }
    wake?.();
  });
  const call = async (id: number, op: string, a: Record<string, unknown>): Promise<void> => {
    socket.write(encodeEnvelope({ t: MessageType.REQUEST, id, op, a }));
    const deadline = Date.now() + 5_000;
    while (!answers.has(id)) {
      if (Date.now() > deadline) throw new Error(`${op}: no answer from ${address}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    const answer = answers.get(id)!;
    if (answer.t === MessageType.ERROR) throw new Error(`${op} refused by ${address}: ${JSON.stringify(answer.e)}`);
  };
  try {
    await call(1, 'hello', { protocol: PROTOCOL_VERSION, clusterId });
    await call(2, 'session.resume', { sessionId });
    await call(3, 'session.close', {});
  } finally {
    socket.destroy();
  }
}
