/**
 * The README's security example: a client of a cluster with TLS and authentication on. With the
 * walkthrough's cluster running (README, "Security"), and a token made for the role `app`:
 *   HIKARI_TOKEN=<token> npx tsc -b && node examples/sdk/dist/secure.js certs/ca.crt
 * (its test runs it against a real TLS cluster).
 */
import { readFileSync } from 'node:fs';
import { ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';

export async function secureExample(endpoints: string[], caFile: string, token: string, log: (line: string) => void = console.log): Promise<void> {
  const client = await HikariClient.connect({
    endpoints,
    token, // from `hikari auth token create --role app`
    tls: { ca: readFileSync(caFile) }, // the cluster CA: the nodes' certificates are checked against it
  });
  try {
    await client.create('/app/hello', 'from a token of role app');
    log(`read ${(await client.get('/app/hello')).data.toString()}`);
    try {
      await client.create('/elsewhere', 'not granted');
    } catch (e) {
      // Refused before anything changed; e.details says what was missing: { scope, resource, access }.
      if (!HikariError.is(e, ErrorCode.PERMISSION_DENIED)) throw e;
      log(`refused: ${e.details.access} on ${e.details.scope} ${e.details.resource}`);
    }
  } finally {
    await client.close();
  }
}

if (require.main === module) {
  const endpoints = (process.env.HIKARI_ENDPOINTS ?? '127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703').split(',');
  void secureExample(endpoints, process.argv[2] ?? 'certs/ca.crt', process.env.HIKARI_TOKEN ?? '');
}
