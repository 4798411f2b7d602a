/**
 * The README's sessions-and-watches example: a worker announces itself with an ephemeral node; a
 * monitor watches the directory and sees it come and go. Run against `npm start`:
 *   npx tsc -b && node examples/sdk/dist/sessions.js
 */
import { HikariClient } from '@hikarikeeper/client';

export async function sessionsExample(endpoints: string[], log: (line: string) => void = console.log): Promise<void> {
  const monitor = await HikariClient.connect({ endpoints });
  await monitor.create('/workers', '').catch(() => undefined); // may exist from an earlier run
  const watch = monitor.watch('/workers', { kind: 'children' });
  await watch.ready;

  // A session opens on connect (10 s timeout by default) and is kept alive by the client itself.
  const worker = await HikariClient.connect({ endpoints, session: { timeoutMs: 5000 } });
  worker.on('expired', ({ sessionId }) => log(`session ${sessionId} expired: re-create what it owned`));
  await worker.create('/workers/w1', 'host-a:8080', { mode: 'ephemeral' });

  // close() ends the session at once: its ephemeral nodes are deleted in the same log entry.
  await worker.close();

  for await (const item of watch) {
    if (item.type === 'resync') continue;
    log(`${item.type} ${item.path}`);
    if (item.type === 'deleted') break; // leaving the loop closes the watch
  }
  await monitor.close();
}

if (require.main === module) {
  const endpoints = (process.env.HIKARI_ENDPOINTS ?? '127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703').split(',');
  sessionsExample(endpoints).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
