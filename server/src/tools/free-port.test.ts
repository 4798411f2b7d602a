import { createServer, Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { canBind, freePort, PORT_RANGE_HIGH, PORT_RANGE_LOW } from './free-port';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('freePort', () => {
  test('the range lies below the kernel ephemeral range, so no outgoing connection can take a port it gave', () => {
    const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    expect(PORT_RANGE_HIGH).toBeLessThanOrEqual(ephemeralLow!);
  });

  test('gives distinct ports inside the range that can be bound', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(PORT_RANGE_LOW);
      expect(port).toBeLessThan(PORT_RANGE_HIGH);
    }
    const server = await listen(ports[0]!);
    server.close();
  });

  test('skips a port something listens on', async () => {
    const probe = await freePort();
    // The next port it would give is probe + 1 (or the slice start after a wrap): hold both candidates.
    const held: Server[] = [];
    for (const port of [probe + 1]) if (await canBind(port)) held.push(await listen(port));
    try {
      const next = await freePort();
      expect(held.map((server) => (server.address() as { port: number }).port)).not.toContain(next);
      expect(await canBind(next)).toBe(true);
    } finally {
      for (const server of held) server.close();
    }
  });

  test('canBind is false for a port in use', async () => {
    const server = await listen(await freePort());
    try {
      expect(await canBind((server.address() as { port: number }).port)).toBe(false);
    } finally {
      server.close();
    }
  });
});
