import { ErrorCode } from '@hikarikeeper/protocol';
import { DetachedSessionQuota } from './session-quota';
import { ThrottledLog } from '../logger';

describe('detached sessions per connection', () => {
  test('a connection at the bound is refused with TOO_LARGE until one of its sessions ends; others are not affected', () => {
    const alive = new Set(['s1', 's2']);
    const quota = new DetachedSessionQuota((id) => alive.has(id), 2);
    const conn = {};
    quota.opened(conn, 's1');
    quota.opened(conn, 's2');
    expect(() => quota.check(conn)).toThrow(expect.objectContaining({ code: ErrorCode.TOO_LARGE, details: { what: 'detached sessions on this connection', size: 3, limit: 2 } }));
    expect(() => quota.check({})).not.toThrow();
    alive.delete('s1'); // closed or expired: no longer counts
    expect(() => quota.check(conn)).not.toThrow();
  });
});

describe('ThrottledLog', () => {
  test('logs at most N lines a second and sums up the rest in one line when the next second starts', () => {
    const lines: Array<[object, string]> = [];
    let now = 10_000;
    const log = new ThrottledLog({ warn: (fields, message) => lines.push([fields, message]) }, 3, () => now);
    for (let i = 0; i < 10; i++) log.warn({ i }, 'refused');
    expect(lines.map(([f]) => f)).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    now += 1_000;
    log.warn({ i: 10 }, 'refused');
    expect(lines.slice(3)).toEqual([[{ suppressed: 7 }, 'more of the same warnings (not logged one by one)'], [{ i: 10 }, 'refused']]);
  });
});
