/**
 * etcd's server-side lock service (v3lock: `Lock` / `Unlock` RPCs, etcd ≥ 3.2), called through
 * @grpc/grpc-js: the etcd3 npm client does not expose it (its `lock()` is a client-side
 * compare-and-swap that fails at once when the key is taken; it does not wait in a queue).
 *
 * `Lock { name, lease }` blocks on the server until the caller owns the lock: the member creates the
 * key `<name>/<lease id>` attached to the lease and waits (watching) until every key of the prefix with
 * a smaller creation revision is gone — a FIFO queue by creation revision. It answers the key (the
 * caller's proof of ownership, passed to `Unlock`) and a response header whose revision is at least
 * the deletion of the previous holder's key: it strictly increases from one holder to the next, so it
 * serves as the fencing token. If the call's deadline passes first, the member deletes the waiting key.
 *
 * The messages are declared here (protobufjs JSON descriptor of etcd's v3lock.proto, field numbers as
 * in etcd 3.4) rather than loaded from a .proto file, so that the build needs no asset copied.
 *
 * Connections: one channel per member (its own TCP connection), opened lazily. Calls go to one member;
 * a call that fails with UNAVAILABLE moves the client to the next member for the calls that follow
 * (as etcd's Go client pins an endpoint and switches on failure).
 */
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { BenchError } from './types';

const RESPONSE_HEADER = {
  fields: { cluster_id: { type: 'uint64', id: 1 }, member_id: { type: 'uint64', id: 2 }, revision: { type: 'int64', id: 3 }, raft_term: { type: 'uint64', id: 4 } },
};
const V3LOCK_DESCRIPTOR: Parameters<typeof fromJSON>[0] = {
  nested: {
    v3lockpb: {
      nested: {
        Lock: {
          methods: {
            Lock: { requestType: 'LockRequest', responseType: 'LockResponse', comment: '' },
            Unlock: { requestType: 'UnlockRequest', responseType: 'UnlockResponse', comment: '' },
          },
        },
        LockRequest: { fields: { name: { type: 'bytes', id: 1 }, lease: { type: 'int64', id: 2 } } },
        LockResponse: { fields: { header: { type: 'ResponseHeader', id: 1 }, key: { type: 'bytes', id: 2 } } },
        UnlockRequest: { fields: { key: { type: 'bytes', id: 1 } } },
        UnlockResponse: { fields: { header: { type: 'ResponseHeader', id: 1 } } },
        ResponseHeader: RESPONSE_HEADER,
      },
    },
  },
};

interface ResponseHeader {
  revision: string;
}
interface LockResponse {
  header: ResponseHeader | null;
  key: Buffer;
}
type Callback<T> = (error: grpc.ServiceError | null, response?: T) => void;
interface LockServiceClient extends grpc.Client {
  Lock(request: { name: Buffer; lease: string }, options: grpc.CallOptions, callback: Callback<LockResponse>): grpc.ClientUnaryCall;
  Unlock(request: { key: Buffer }, options: grpc.CallOptions, callback: Callback<{ header: ResponseHeader | null }>): grpc.ClientUnaryCall;
}
type LockServiceConstructor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => LockServiceClient;

let serviceConstructor: LockServiceConstructor | null = null;
function lockService(): LockServiceConstructor {
  if (serviceConstructor === null) {
    const definition = fromJSON(V3LOCK_DESCRIPTOR, { keepCase: true, longs: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { v3lockpb: { Lock: LockServiceConstructor } };
    serviceConstructor = pkg.v3lockpb.Lock;
  }
  return serviceConstructor;
}

/** Channel options: a connection of its own (not shared with other clients of the process). */
export const OWN_CONNECTION: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };
/** Deadline of an Unlock. */
export const UNLOCK_TIMEOUT_MS = 10_000;

export interface V3LockGrant {
  /** The lock key: `<name>/<lease id in hex>`. */
  key: Buffer;
  /** The answer's header revision (see the file's header): the fencing token. */
  revision: number;
}

export class V3LockClient {
  private readonly channels: Array<LockServiceClient | null>;
  private current: number;

  /** `endpoints`: 'host:port' of the members; `first`: the index of the member to call first. */
  constructor(private readonly endpoints: readonly string[], first = 0) {
    if (endpoints.length === 0) throw new Error('V3LockClient needs at least one endpoint');
    this.channels = endpoints.map(() => null);
    this.current = first % endpoints.length;
  }

  /** Waits for lock `name` under lease `lease` (decimal id) until `deadline` (ms since the epoch): LOCK_TIMEOUT after it. */
  lock(name: string, lease: string, deadline: number): Promise<V3LockGrant> {
    return this.call((c, cb: Callback<LockResponse>) => c.Lock({ name: Buffer.from(name), lease }, { deadline: new Date(deadline) }, cb), `lock ${name}`, 'LOCK_TIMEOUT').then((r) => {
      const revision = Number(r.header?.revision ?? NaN);
      if (!Number.isSafeInteger(revision) || revision <= 0) throw new BenchError('BAD_ANSWER', `etcd Lock answered without a header revision for ${name}`);
      return { key: r.key, revision };
    });
  }

  unlock(key: Buffer): Promise<void> {
    return this.call((c, cb: Callback<unknown>) => c.Unlock({ key }, { deadline: new Date(Date.now() + UNLOCK_TIMEOUT_MS) }, cb), `unlock ${key.toString()}`, 'DEADLINE_EXCEEDED').then(() => undefined);
  }

  close(): void {
    for (const c of this.channels) c?.close();
    this.channels.fill(null);
  }

  private channel(): LockServiceClient {
    const i = this.current;
    this.channels[i] ??= new (lockService())(this.endpoints[i], grpc.credentials.createInsecure(), OWN_CONNECTION);
    return this.channels[i]!;
  }

  /** One call to the current member; DEADLINE_EXCEEDED is reported as `timeoutCode`, other failures by their gRPC status name. */
  private call<T>(invoke: (client: LockServiceClient, callback: Callback<T>) => void, what: string, timeoutCode: string): Promise<T> {
    const member = this.current;
    return new Promise<T>((resolve, reject) => {
      invoke(this.channel(), (error, response) => {
        if (error === null && response !== undefined) return resolve(response);
        const code = error?.code ?? grpc.status.UNKNOWN;
        if (code === grpc.status.UNAVAILABLE && this.current === member) this.current = (member + 1) % this.endpoints.length;
        if (code === grpc.status.DEADLINE_EXCEEDED || serverDeadline(code, error?.details)) return reject(new BenchError(timeoutCode, `etcd ${what}: deadline exceeded`));
        reject(new BenchError(grpc.status[code] ?? 'UNKNOWN', `etcd ${what}: ${error?.details ?? 'no answer'}`));
      });
    });
  }
}

/**
 * Whether a failure is the member's own view of the call's deadline: the deadline travels with the call
 * (grpc-timeout), and when the member's context expires first, etcd's lock server returns the bare Go
 * error, which gRPC reports as UNKNOWN "context deadline exceeded" (seen under load in CI).
 */
export function serverDeadline(code: grpc.status, details: string | undefined): boolean {
  return code === grpc.status.UNKNOWN && /context deadline exceeded/i.test(details ?? '');
}
