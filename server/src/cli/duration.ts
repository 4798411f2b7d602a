import { HikariError } from '@hikarikeeper/client';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration as the CLI takes it: a whole number and a unit — `500ms`, `45s`, `30m`, `12h`, `90d` —
 * in milliseconds. Throws INVALID_ARGUMENT naming `field`.
 */
export function parseDuration(text: string, field: string): number {
  const match = /^(\d{1,12})(ms|s|m|h|d)$/.exec(text.trim());
  const ms = match === null ? NaN : Number(match[1]) * UNIT_MS[match[2]!]!;
  if (!Number.isSafeInteger(ms)) throw HikariError.invalidArgument(field, `'${text}' is not a duration such as 500ms, 45s, 30m, 12h or 90d`);
  return ms;
}
