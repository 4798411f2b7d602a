/**
 * Failpoints: terms, arming and disarming, probabilities, off by default, and a real crash (a child
 * process that reaches an armed `crash` point dies of SIGKILL, and nothing after the point runs).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { FAILPOINTS, Failpoints, parseTerm } from './failpoints';

describe('failpoints', () => {
  test('terms: off, crash, on, P%', () => {
    expect(parseTerm('off')).toBeNull();
    expect(parseTerm('crash')).toEqual({ action: 'crash', probability: 1 });
    expect(parseTerm(' 25%on ')).toEqual({ action: 'on', probability: 0.25 });
    for (const bad of ['', 'panic', '0%crash', '101%crash', '%crash', 'crash!']) {
      expect(() => parseTerm(bad)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    }
  });

  test('off unless HIKARI_FAILPOINTS is set: nothing fires and nothing can be armed', () => {
    const off = new Failpoints(undefined);
    expect(off.enabled).toBe(false);
    expect(off.hit(FAILPOINTS.readSkipReadIndex)).toBe(false);
    expect(() => off.set(FAILPOINTS.readSkipReadIndex, 'on')).toThrow(HikariError);
  });

  test('armed from the spec, re-armed and disarmed at run time; unknown names refused', () => {
    const fp = new Failpoints('read-skip-read-index=on; raft-after-save=50%crash');
    expect(fp.enabled).toBe(true);
    expect(fp.list()).toEqual({ 'raft-after-save': '50%crash', 'apply-before-reply': 'off', 'read-skip-read-index': 'on' });
    expect(fp.hit(FAILPOINTS.readSkipReadIndex)).toBe(true);
    fp.set(FAILPOINTS.readSkipReadIndex, 'off');
    expect(fp.hit(FAILPOINTS.readSkipReadIndex)).toBe(false);
    expect(() => fp.set('no-such-point', 'on')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => new Failpoints('raft-after-save')).toThrow(HikariError);
    expect(new Failpoints('').list()['raft-after-save']).toBe('off');
  });

  test('P% fires with that probability (seeded draws)', () => {
    const draws = [0.1, 0.3, 0.29, 0.9];
    const fp = new Failpoints('read-skip-read-index=30%on', () => draws.shift()!);
    expect([1, 2, 3, 4].map(() => fp.hit(FAILPOINTS.readSkipReadIndex))).toEqual([true, false, true, false]);
  });

  test('crash: the process dies of SIGKILL at the point, and nothing after it runs', () => {
    const module = resolve(__dirname, '..', 'dist', 'failpoints.js');
    const script = `const { failpoints } = require(${JSON.stringify(module)}); failpoints.hit('raft-after-save'); console.log('survived');`;
    const armed = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, HIKARI_FAILPOINTS: 'raft-after-save=crash' }, encoding: 'utf8' });
    expect(armed.signal).toBe('SIGKILL');
    expect(armed.stdout).not.toContain('survived');
    expect(armed.stderr).toContain('failpoint: crashing');
    const off = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, HIKARI_FAILPOINTS: undefined }, encoding: 'utf8' });
    expect(off.status).toBe(0);
    expect(off.stdout).toContain('survived');
    const malformed = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, HIKARI_FAILPOINTS: 'nonsense' }, encoding: 'utf8' });
    expect(malformed.status).toBe(2);
    expect(malformed.stderr).toContain('HIKARI_FAILPOINTS');
  });
});
