/** How the v3lock client classifies a failed call (no etcd needed: the status mapping only). */
import * as grpc from '@grpc/grpc-js';
import { serverDeadline } from './etcd-v3lock';

describe('serverDeadline', () => {
  test("etcd's bare 'context deadline exceeded' (status UNKNOWN) is the call's deadline", () => {
    expect(serverDeadline(grpc.status.UNKNOWN, 'context deadline exceeded')).toBe(true);
  });

  test('other UNKNOWN failures, and other statuses with the same words, are not', () => {
    expect(serverDeadline(grpc.status.UNKNOWN, 'etcdserver: request timed out')).toBe(false);
    expect(serverDeadline(grpc.status.UNKNOWN, undefined)).toBe(false);
    expect(serverDeadline(grpc.status.UNAVAILABLE, 'context deadline exceeded')).toBe(false);
  });
});
