import { createServer, Server, Socket } from 'node:net';
import { createServer as createTlsServer, SecureContextOptions, TlsOptions } from 'node:tls';
import { encodeEnvelope, errorEnvelope, HikariError } from '@hikarikeeper/protocol';
import { ClientConnection, ConnectionObserver } from './client-connection';
import { CONNECTIONS_PER_ADDRESS_MAX_DEFAULT, tooManyConnections } from './connection-limits';
import type { Dispatcher } from './dispatcher';
import { Logger, ThrottledLog } from '../logger';
import { replaceListenerContext } from '../auth/tls';

/**
 * Most client connections one node accepts; more are refused at accept time. Each session is one
 * connection, so this is also the sessions one node can hold. Kept under the process's open-file
 * limit (20,000 here) with room for RocksDB's files and the peer links.
 */
export const CLIENT_CONNECTIONS_MAX = 16_000;

/** Sockets in a TLS handshake at once, beyond the connections (the listener closes more at accept). */
const TLS_HANDSHAKES_MAX = 1_000;

export interface ClientServerOptions {
  /** TLS for the client port (see auth/tls.ts); plain TCP when absent. */
  readonly tls?: TlsOptions;
  /** Connections accepted from one address (default CONNECTIONS_PER_ADDRESS_MAX_DEFAULT). */
  readonly connectionsPerAddressMax?: number;
}

/**
 * The listener for SDK clients (TCP, or TLS). A connection over a limit (in total, or from one
 * address) is told TOO_MANY_CONNECTIONS and closed.
 */
export class ClientServer {
  private server: Server | null = null;
  private readonly connections = new Set<ClientConnection>();
  private readonly perAddress = new Map<string, number>();
  private readonly perAddressMax: number;
  private readonly refusals: ThrottledLog;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
    private readonly observer: ConnectionObserver,
    private readonly options: ClientServerOptions = {},
  ) {
    this.perAddressMax = options.connectionsPerAddressMax ?? CONNECTIONS_PER_ADDRESS_MAX_DEFAULT;
    this.refusals = new ThrottledLog(log);
  }

  /** New TLS material (certificate rotation) for the next handshakes; see auth/tls.ts. */
  setTls(context: SecureContextOptions): void {
    replaceListenerContext(this.server, context);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const tls = this.options.tls;
      const server = tls === undefined ? createServer((socket) => this.accept(socket)) : createTlsServer(tls, (socket) => this.accept(socket));
      if (tls !== undefined) {
        server.maxConnections = CLIENT_CONNECTIONS_MAX + TLS_HANDSHAKES_MAX;
        server.on('tlsClientError', (error: Error, socket: Socket) => this.log.debug({ remote: socket.remoteAddress, err: error.message }, 'client TLS handshake failed'));
      }
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        this.server = server;
        const a = server.address();
        resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port });
      });
    });
  }

  private accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const fromAddress = this.perAddress.get(address) ?? 0;
    const refusal =
      this.connections.size >= CLIENT_CONNECTIONS_MAX ? tooManyConnections('connections', CLIENT_CONNECTIONS_MAX)
        : fromAddress >= this.perAddressMax ? tooManyConnections('connections per address', this.perAddressMax)
          : null;
    if (refusal !== null) return this.refuse(socket, refusal);
    this.perAddress.set(address, fromAddress + 1);
    const conn: ClientConnection = new ClientConnection(socket, this.dispatcher, this.log, this.observer, () => {
      this.connections.delete(conn);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
    this.connections.add(conn);
  }

  private refuse(socket: Socket, refusal: HikariError): void {
    this.observer.limitExceeded(refusal.details.what as string);
    this.refusals.warn({ remote: socket.remoteAddress, limit: refusal.details.limit, what: refusal.details.what }, 'client connection refused');
    socket.on('error', () => undefined);
    socket.end(encodeEnvelope(errorEnvelope(0, refusal)));
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of [...this.connections]) c.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
