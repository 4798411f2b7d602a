/**
 * The etcd3 npm client (gRPC through @grpc/grpc-js) as the benchmark opens it: every member's address
 * (the client sends each call to a member picked at random and retries another on failure: its
 * defaults, as are its circuit breakers), a connection of its own (not shared with the process's
 * other clients), and a deadline on every unary call so that a call to a dead member cannot hang.
 */
import { Etcd3 } from 'etcd3';
import { OWN_CONNECTION } from './etcd-v3lock';

/** Deadline of each unary call made through etcd3 (streams, such as lease keepalives, have none). */
export const ETCD_CALL_TIMEOUT_MS = 10_000;

export function openEtcd3(endpoints: readonly string[]): Etcd3 {
  return new Etcd3({
    hosts: endpoints.map((e) => `http://${e}`),
    grpcOptions: OWN_CONNECTION,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
  });
}
