/** Injection tokens. */

/** The connected HikariClient (`@InjectHikari()`); null with driver 'redis' and no `endpoints`. */
export const HIKARI_CLIENT = Symbol('HikariClient');

/** Internal: the HikariConnection (connection.ts). */
export const HIKARI_CONNECTION = Symbol('HikariConnection');

/** Internal: the ResolvedHikariOptions. */
export const HIKARI_RESOLVED_OPTIONS = Symbol('HikariResolvedOptions');
