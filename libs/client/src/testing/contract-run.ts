/**
 * What every contract suite (lock-contract.ts, namespace-contract.ts, discovery-contract.ts) does
 * around its tests, and what their runs give them. This folder is not part of the build: it is
 * imported by test files only.
 */
import { randomBytes } from 'node:crypto';

/**
 * The subject of a contract suite: made by `setup` before every test, torn down after it. `unique`
 * gives a name no other test of the suite, nor an earlier run against the same server, uses.
 * Call it inside the suite's `describe`.
 */
export function useContractSubject<S extends { teardown(): Promise<void> }>(setup: () => Promise<S>): { current(): S; unique(label: string): string } {
  let subject: S | null = null;
  const run = randomBytes(3).toString('hex');
  let tests = 0;
  beforeEach(async () => {
    subject = await setup();
  });
  afterEach(async () => {
    const s = subject;
    subject = null;
    await s?.teardown();
  });
  return {
    current(): S {
      if (subject === null) throw new Error('setup did not complete');
      return subject;
    },
    unique: (label: string): string => `${run}-${++tests}-${label}`,
  };
}

/** A setup's clients: `connect` opens one more (with `open`), `teardown` closes every one. */
export function clientPool<C extends { close(): Promise<void> }>(open: () => Promise<C>): { connect(): Promise<C>; teardown(): Promise<void> } {
  const clients: C[] = [];
  return {
    connect: async () => {
      const client = await open();
      clients.push(client);
      return client;
    },
    teardown: async () => {
      await Promise.all(clients.splice(0).map((client) => client.close()));
    },
  };
}
