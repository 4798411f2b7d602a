/**
 * The README's SDK example. Start a cluster (`npm start`), then:
 *   npx tsc -b && node examples/sdk/dist/basic.js        (or see its test, which runs it)
 */
import { ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';

export async function basicExample(endpoints: string[], log: (line: string) => void = console.log): Promise<void> {
  const client = await HikariClient.connect({ endpoints });
  try {
    // Create a node (its parent must exist; '/' always does).
    await client.create('/app', '');
    const { stat } = await client.create('/app/config', JSON.stringify({ color: 'blue' }));
    log(`created /app/config at version ${stat.version}`);

    // Read it back: linearizable by default (it sees every write acknowledged before the read).
    const { data } = await client.get('/app/config');
    log(`read ${data.toString()}`);

    // Compare-and-set: the write applies only if nobody changed the node since we read it.
    await client.set('/app/config', JSON.stringify({ color: 'green' }), { version: stat.version });
    try {
      await client.set('/app/config', JSON.stringify({ color: 'red' }), { version: stat.version });
    } catch (e) {
      if (HikariError.is(e, ErrorCode.BAD_VERSION)) log('second compare-and-set refused: BAD_VERSION');
      else throw e;
    }

    // Sequential nodes get a unique, increasing, zero-padded suffix.
    const job = await client.create('/app/job-', 'payload', { mode: 'persistent_sequential' });
    log(`queued ${job.path}`);

    // List children (sorted, paged under the hood), then several changes at once, atomically.
    for await (const name of client.listChildren('/app')) log(`child ${name}`);
    await client.multi([
      { op: 'check', path: '/app/config', version: 1 },
      { op: 'delete', path: job.path },
      { op: 'create', path: '/app/done', data: Buffer.from(job.path), mode: 'persistent' },
    ]);
    log(`after multi: ${(await client.exists('/app/done')) ? '/app/done exists' : 'nothing'}`);
  } finally {
    await client.close();
  }
}

if (require.main === module) {
  const endpoints = (process.env.HIKARI_ENDPOINTS ?? '127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703').split(',');
  basicExample(endpoints).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
