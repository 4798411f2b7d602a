import { HikariError } from '@hikarikeeper/client';
import { checkGrants, Grant } from '../auth/grants';

/**
 * A grant as the CLI takes it: `scope:access:prefix`, the prefix being everything after the second
 * colon (lock names may hold colons): `namespace:write:/app`, `locks:write:orders:`, `services:read:`
 * (empty prefix: all services), `cluster:read:`. Throws INVALID_ARGUMENT naming `field`.
 */
export function parseGrant(spec: string, field: string): Grant {
  const first = spec.indexOf(':');
  const second = first < 0 ? -1 : spec.indexOf(':', first + 1);
  if (second < 0) throw HikariError.invalidArgument(field, `'${spec}' is not scope:access:prefix (e.g. namespace:write:/app)`);
  const [grant] = checkGrants([{ scope: spec.slice(0, first), access: spec.slice(first + 1, second), prefix: spec.slice(second + 1) }], field);
  return grant!;
}
