import { createServer } from 'node:net';

/**
 * Ports for test and benchmark processes that are told their addresses before they bind them.
 *
 * A port found free with `listen(0)` comes from the kernel's ephemeral range, the range it also uses
 * for the local end of outgoing connections: between the probe and the server's own bind, a client
 * connecting anywhere may be given that port, and the server fails with EADDRINUSE (seen in CI).
 * These ports are taken below the ephemeral range instead (Linux's default starts at 32768), where
 * the kernel never hands out a port on its own; each process walks its own slice of that range (by
 * Jest worker, then by pid) from a random start, and checks every port by binding it.
 */
export const PORT_RANGE_LOW = 20_000;
export const PORT_RANGE_HIGH = 32_000; // exclusive
const SLICES = 8;
const SLICE_SIZE = Math.floor((PORT_RANGE_HIGH - PORT_RANGE_LOW) / SLICES);

function sliceIndex(): number {
  const worker = Number(process.env.JEST_WORKER_ID);
  return (Number.isInteger(worker) && worker > 0 ? worker : process.pid) % SLICES;
}

const sliceStart = PORT_RANGE_LOW + sliceIndex() * SLICE_SIZE;
let cursor = Math.floor(Math.random() * SLICE_SIZE);

/** Whether `port` can be bound on `host` right now. */
export function canBind(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/**
 * A TCP port on `host` that nothing listens on, outside the ephemeral range, never returned twice
 * by this process until its slice of the range wraps around.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < SLICE_SIZE; tries++) {
    const port = sliceStart + (cursor++ % SLICE_SIZE);
    if (await canBind(port, host)) return port;
  }
  throw new Error(`no free port in ${sliceStart}..${sliceStart + SLICE_SIZE - 1} on ${host}`);
}
