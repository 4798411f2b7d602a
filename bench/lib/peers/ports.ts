/**
 * Loopback ports for the peers. A port found free may be taken by another process (another engineer's
 * test cluster) before the peer binds it: `withFreePorts` then starts again with fresh ports.
 */
import { freePort as freePortOn } from '@hikarikeeper/server/dist/tools/free-port';

export const PEER_HOST = '127.0.0.1';
/** Attempts with fresh ports when a port was taken meanwhile. */
export const PORT_ATTEMPTS = 3;

/** A loopback port free right now, below the ephemeral range (see withFreePorts for when it is taken before use). */
export function freePort(): Promise<number> {
  return freePortOn(PEER_HOST);
}

/** What redis-server, etcd and the JVM say when a port is taken. */
export function isPortClash(error: unknown): boolean {
  return error instanceof Error && /address already in use|BindException|bind: address/i.test(error.message);
}

/** Runs `start` with `count` distinct free loopback ports; again with fresh ones if it fails on a taken port. */
export async function withFreePorts<T>(count: number, start: (ports: number[]) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports = new Set<number>();
    while (ports.size < count) ports.add(await freePort());
    try {
      return await start([...ports]);
    } catch (error) {
      if (!isPortClash(error) || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}
