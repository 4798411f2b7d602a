/**
 * The `hello` handshake, first request on every connection: the arguments the SDK sends, and the
 * check of what a node answers. A node that answers something malformed, or hands back another
 * client id than the one asked for (which would break exactly-once writes across reconnects),
 * breaks the protocol: its connection is closed.
 */
import {
  DATA_BYTES_MAX_CEILING,
  FRAME_BYTES_MAX,
  HelloArgs,
  HelloResult,
  HikariError,
  IN_FLIGHT_REQUESTS_MAX,
  isPlainObject,
  PROTOCOL_VERSION,
} from '@hikarikeeper/protocol';

export function helloArgs(clientId: string, clusterId: string | undefined, token?: string): HelloArgs & { clientId: string } {
  return { protocol: PROTOCOL_VERSION, clientId, clusterId, token };
}

/**
 * The hello result in `value`, its limits clamped to what this SDK can honour. Throws BAD_FRAME
 * naming the first field at fault.
 */
export function checkHelloResult(value: unknown, clientId: string): HelloResult {
  const bad = (reason: string): HikariError => HikariError.badFrame(`hello result: ${reason}`);
  if (!isPlainObject(value)) throw bad('not a map');
  const { protocol, clusterId, nodeId, sessionId, sessionTimeoutMs, leader, limits, principal } = value;
  if (protocol !== PROTOCOL_VERSION) throw bad(`protocol ${String(protocol)}, expected ${PROTOCOL_VERSION}`);
  if (value.clientId !== clientId) throw bad('clientId differs from the one sent');
  if (typeof clusterId !== 'string') throw bad('clusterId must be a string');
  if (!Number.isSafeInteger(nodeId)) throw bad('nodeId must be an integer');
  if (typeof sessionId !== 'string') throw bad('sessionId must be a string');
  if (!Number.isSafeInteger(sessionTimeoutMs)) throw bad('sessionTimeoutMs must be an integer');
  if (leader !== null && typeof leader !== 'string') throw bad("leader must be 'host:port' or null");
  if (!isPlainObject(limits)) throw bad('limits must be a map');
  if (principal !== undefined && typeof principal !== 'string') throw bad('principal must be a string');
  return {
    protocol: PROTOCOL_VERSION,
    clusterId,
    nodeId: nodeId as number,
    clientId,
    sessionId,
    sessionTimeoutMs: sessionTimeoutMs as number,
    leader,
    limits: {
      frameBytesMax: positiveAtMost(limits.frameBytesMax, FRAME_BYTES_MAX, bad, 'frameBytesMax'),
      dataBytesMax: positiveAtMost(limits.dataBytesMax, DATA_BYTES_MAX_CEILING, bad, 'dataBytesMax', 0),
      inFlightRequestsMax: positiveAtMost(limits.inFlightRequestsMax, IN_FLIGHT_REQUESTS_MAX, bad, 'inFlightRequestsMax'),
      ...(limits.writeRetentionMs === undefined ? {} : { writeRetentionMs: positiveAtMost(limits.writeRetentionMs, Number.MAX_SAFE_INTEGER, bad, 'writeRetentionMs') }),
    },
    ...(principal === undefined ? {} : { principal }),
  };
}

function positiveAtMost(
  value: unknown,
  ceiling: number,
  bad: (reason: string) => HikariError,
  field: string,
  min = 1,
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw bad(`limits.${field} must be an integer of at least ${min}`);
  }
  return Math.min(value, ceiling);
}
