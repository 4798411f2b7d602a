/** Every workload `npm run bench -- <name>` knows, in the order they are listed. */
import { Workload } from '../lib/workload';
import { discoveryWorkload } from './discovery';
import { failoverWorkload } from './failover';
import { kvWorkload } from './kv';
import { locksWorkload } from './locks';
import { sessionsWorkload } from './sessions';

export const WORKLOADS: readonly Workload[] = [kvWorkload, sessionsWorkload, locksWorkload, failoverWorkload, discoveryWorkload];
