/**
 * The server package's library surface: what other packages (the simulator, benchmarks) reuse. The
 * server itself is run with `hikari-server` (main.ts).
 */
export type { SessionRecord } from './coordination/sessions';
export { deadlineOf, openedSession, renewedSession, extendedSession, isExpiredAt } from './coordination/sessions';
export type { LockHolder, LockRecord, LockWaiter, TicketEvent, AcquireRequest, AcquireOutcome, LockChange } from './coordination/lock-rules';
export { acquire as lockAcquire, release as lockRelease, cancel as lockCancel, dropSessions as lockDropSessions, holdsToken } from './coordination/lock-rules';
export { freePort, canBind } from './tools/free-port';
