import { failingSeeds } from './seeds';

// npm test runs 300 seeds of the deterministic simulator, split over two files so both Jest workers
// share them. Each seed: faults for 400 ticks, then the healed cluster must converge; every safety
// property and the linearizability of the client history are checked (see simulation.ts).
describe('deterministic simulation, seeds 1..150', () => {
  for (let start = 1; start <= 150; start += 50) {
    test(`seeds ${start}..${start + 49} keep every safety property and a linearizable history`, () => {
      expect(failingSeeds(start, start + 49)).toEqual([]);
    });
  }
});
