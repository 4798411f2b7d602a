import { createServer, Server, Socket } from 'node:net';
import { ClientConnection, ConnectionObserver } from './client-connection';
import type { Dispatcher } from './dispatcher';
import type { Logger } from '../logger';

/**
 * Most client connections one node accepts; more are refused at accept time. Each session is one
 * connection, so this is also the sessions one node can hold. Kept under the process's open-file
 * limit (20,000 here) with room for RocksDB's files and the peer links.
 */
export const CLIENT_CONNECTIONS_MAX = 16_000;

/** The TCP listener for SDK clients. */
export class ClientServer {
  private server: Server | null = null;
  private readonly connections = new Set<ClientConnection>();

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
    private readonly observer: ConnectionObserver,
  ) {}

  get connectionCount(): number {
    return this.connections.size;
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.accept(socket));
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
    if (this.connections.size >= CLIENT_CONNECTIONS_MAX) {
      this.log.warn({ remote: socket.remoteAddress }, 'too many client connections; refusing one');
      socket.destroy();
      return;
    }
    const conn: ClientConnection = new ClientConnection(socket, this.dispatcher, this.log, this.observer, () => this.connections.delete(conn));
    this.connections.add(conn);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of [...this.connections]) c.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
