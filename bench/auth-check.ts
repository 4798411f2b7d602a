/**
 * `npm run bench:auth`: what the access check costs per request, in one process: the server's own
 * AccessGuard.authorize on validated requests, for the bootstrap admin, a role of 1 grant and a role
 * of 64 grants (the most a role may hold; the grant that matches comes last), next to what every
 * request pays anyway for its validation. With authentication off the dispatcher has no guard: one
 * null check.
 *
 * Options: --iterations N (per row, default 1,000,000), --out FILE (JSON lines, default
 * bench/results/auth.jsonl).
 */
import { validateRequest, ValidatedRequest } from '@hikarikeeper/protocol';
import { AccessGuard } from '@hikarikeeper/server/dist/auth/guard';
import { Grant } from '@hikarikeeper/server/dist/auth/grants';
import { PermissionTable, Principal } from '@hikarikeeper/server/dist/auth/permission-table';
import { appendResults, describeMachine, makeTable, renderTable, runMetadata } from './lib/report';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const data = new Uint8Array(100);
const REQUESTS: Array<[string, string, Record<string, unknown>]> = [
  ['get', 'get', { path: '/app/orders/42' }],
  ['create', 'create', { path: '/app/orders/43', data, mode: 'persistent' }],
  ['multi of 10', 'multi', { ops: Array.from({ length: 10 }, (_, i) => ({ op: 'set', path: `/app/orders/${i}`, data })) }],
  ['lock.acquire', 'lock.acquire', { name: 'app/orders:42' }],
];

/** `grants` grants, the two that match the requests (`/app`, `app/`) last: the worst case of the scan. */
function role(grants: number): Grant[] {
  const filler = Array.from({ length: grants - 2 }, (_, i): Grant => (i % 2 === 0 ? { scope: 'namespace', access: 'write', prefix: `/other-${i}` } : { scope: 'locks', access: 'write', prefix: `other-${i}/` }));
  return [...filler, { scope: 'locks', access: 'write', prefix: 'app/' }, { scope: 'namespace', access: 'write', prefix: '/app' }];
}

/** Nanoseconds per call of `fn`, over `n` calls after a warm-up. */
function nsPerCall(n: number, fn: () => void): number {
  for (let i = 0; i < Math.min(n, 100_000); i++) fn();
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - started) / n;
}

function main(): void {
  const iterations = Number(arg('iterations', '1000000'));
  const out = arg('out', 'bench/results/auth.jsonl');
  const table = new PermissionTable();
  const one = role(2);
  const many = role(64);
  table.apply([
    { kind: 'role', name: 'small', record: { grants: one, updatedAt: 0 } },
    { kind: 'role', name: 'large', record: { grants: many, updatedAt: 0 } },
    { kind: 'token', name: 't-small', record: { hash: Buffer.alloc(32), role: 'small', createdAt: 0, note: '', expiresAt: null } },
    { kind: 'token', name: 't-large', record: { hash: Buffer.alloc(32), role: 'large', createdAt: 0, note: '', expiresAt: null } },
  ]);
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const guard = new AccessGuard(table, { adminTokenHash: null, adminSubjects: new Set() }, { denied() {}, unauthenticated() {} }, silent);
  const principals: Array<[string, Principal]> = [
    ['admin', new Principal('admin', '')],
    [`role of ${one.length} grants`, new Principal('token', 't-small')],
    [`role of ${many.length} grants`, new Principal('token', 't-large')],
  ];
  const rows: Array<{ request: string; validateNs: number; [who: string]: number | string }> = [];
  for (const [label, op, args] of REQUESTS) {
    const req: ValidatedRequest = validateRequest(op, args);
    const row: { request: string; validateNs: number; [who: string]: number | string } = { request: label, validateNs: nsPerCall(iterations / 4, () => validateRequest(op, args)) };
    for (const [who, p] of principals) row[who] = nsPerCall(iterations, () => guard.authorize(p, req));
    rows.push(row);
  }
  const meta = runMetadata();
  console.log(`access check per request (ns), ${iterations.toLocaleString('en-US')} calls per cell; ${describeMachine(meta)}`);
  const cols = [
    { header: 'request', align: 'left' as const, value: (r: (typeof rows)[number]) => r.request },
    { header: 'validation (every request)', value: (r: (typeof rows)[number]) => r.validateNs.toFixed(0) },
    ...principals.map(([who]) => ({ header: `check: ${who}`, value: (r: (typeof rows)[number]) => (r[who] as number).toFixed(0) })),
  ];
  for (const line of renderTable(makeTable(cols, rows))) console.log(line);
  appendResults(out, 'auth', meta, { iterations }, rows);
  console.log(`results appended to ${out}`);
}

main();
