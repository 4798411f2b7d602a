import { NodeId } from './types';

export enum VoteResult {
  Pending = 'pending',
  Won = 'won',
  Lost = 'lost',
}

/** The largest index acknowledged by a majority of `voters` (`match` gives each voter's index). */
export function majorityCommitted(voters: readonly NodeId[], match: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return Number.MAX_SAFE_INTEGER; // an empty configuration agrees on everything
  if (n === 1) return match(voters[0]);
  const idx = new Array<number>(n);
  for (let i = 0; i < n; i++) idx[i] = match(voters[i]);
  idx.sort((a, b) => b - a);
  return idx[Math.floor(n / 2)];
}

/** The outcome of an election given the votes received so far. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return VoteResult.Won;
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const quorum = Math.floor(voters.length / 2) + 1;
  if (granted >= quorum) return VoteResult.Won;
  if (voters.length - rejected < quorum) return VoteResult.Lost;
  return VoteResult.Pending;
}

/** Whether the voters for which `active` is true form a majority. */
export function quorumActive(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  let n = 0;
  for (const id of voters) if (active(id)) n++;
  return n >= Math.floor(voters.length / 2) + 1;
}
