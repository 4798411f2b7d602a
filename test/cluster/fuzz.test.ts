import { fuzzCluster } from '../fuzz/protocol-fuzz';
import { SERVER_SCRIPT } from './harness';

/** The protocol fuzz test (see test/fuzz/protocol-fuzz.ts) with a fixed seed; `npm run fuzz` runs it longer. */
test('random and mutated frames and random operations: no crash, an answer or a clean disconnect for each, identical replicas', async () => {
  const report = await fuzzCluster({ seed: 20_260_101, runs: 150, serverScript: SERVER_SCRIPT });
  // The run exercised what it claims to: answers of many kinds, malformed frames that closed connections.
  expect(report.frames).toBeGreaterThan(500);
  expect(report.disconnects).toBeGreaterThan(10);
  expect(Object.keys(report.codes).length).toBeGreaterThan(6);
  expect(report.replicaRecords).toBeGreaterThan(10);
}, 180_000);
