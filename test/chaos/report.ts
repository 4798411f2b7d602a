/**
 * What a run leaves in its folder: `summary.json` (seed, options, verdicts, the command that
 * replays it), `history.jsonl` (every operation's invoke and completion, and every fault, in time
 * order), `timeline.html` (one row per client, one bar per operation, faults as bands) and
 * `logs/node-<id>.log` (every line each server printed, written as the run went), and
 * `workload-<name>.json` (what a check looked at beyond the history: watch events, the fenced
 * resources' logs, the session owners).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Journal, OpRecord } from './journal';
import type { ChaosOptions, ChaosResult } from './run';
import type { Workload } from './workloads/workload';

/** Operations drawn in the timeline at most (the rest are in history.jsonl). */
const TIMELINE_OPS_MAX = 60_000;
const PX_PER_SECOND = 50;
const ROW_PX = 18;

export function replayCommand(options: Omit<ChaosOptions, 'log'>): string {
  const parts = [`npm run chaos -- --seed ${options.seed} --duration ${options.durationS} --nodes ${options.nodes}`];
  parts.push(`--nemesis ${options.nemeses.join(',')}`, `--workload ${options.workloads.join(',')}`);
  if (options.clientRetentionMs !== null) parts.push(`--client-retention ${options.clientRetentionMs}`);
  if (options.unsafe.length > 0) parts.push(`--unsafe ${options.unsafe.join(',')}`);
  return parts.join(' ');
}

export function writeReport(dir: string, options: ChaosOptions, result: ChaosResult, journal: Journal, workloads: readonly Workload[]): void {
  const { log: _log, ...rest } = options;
  void _log;
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({
    ok: result.ok, seed: result.seed, replay: replayCommand(rest), options: rest, failures: result.failures, reports: result.reports,
    faults: result.faults, checked: result.checked, wallSeconds: Math.round(result.wallMs / 1000),
    note: 'The seed fixes the choice and order of faults and operations; thread timing does not replay exactly.',
  }, null, 2));
  writeFileSync(join(dir, 'history.jsonl'), historyLines(journal).join('\n') + '\n');
  writeFileSync(join(dir, 'timeline.html'), timeline(journal, result));
  for (const w of workloads) if (w.dump !== undefined) writeFileSync(join(dir, `workload-${w.name}.json`), JSON.stringify(w.dump()));
}

function historyLines(journal: Journal): string[] {
  const events: { time: number; line: Record<string, unknown> }[] = [];
  for (const op of journal.ops) {
    events.push({ time: op.call, line: { type: 'invoke', process: op.process, f: op.f, value: op.input, time: ms(op.call) } });
    if (op.return !== undefined) events.push({ time: op.return, line: { type: op.outcome, process: op.process, f: op.f, value: op.output, time: ms(op.return) } });
  }
  for (const f of journal.faults) {
    events.push({ time: f.start, line: { type: 'info', process: 'nemesis', f: `start ${f.name}`, value: f.detail, time: ms(f.start) } });
    if (f.end !== undefined) events.push({ time: f.end, line: { type: 'info', process: 'nemesis', f: `stop ${f.name}`, value: f.detail, time: ms(f.end) } });
  }
  for (const m of journal.marks) events.push({ time: m.time, line: { type: 'info', process: 'phase', f: m.name, time: ms(m.time) } });
  events.sort((a, b) => a.time - b.time);
  return events.map((e) => JSON.stringify(e.line));
}

const ms = (t: number): number => Math.round(t * 1000) / 1000;

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function timeline(journal: Journal, result: ChaosResult): string {
  const ops = journal.ops.slice(-TIMELINE_OPS_MAX);
  const t0 = Math.min(journal.marks[0]?.time ?? Infinity, ...ops.slice(0, 1).map((o) => o.call));
  const end = Math.max(...journal.marks.map((m) => m.time), ...ops.slice(-1).map((o) => o.return ?? o.call)) + 1000;
  const x = (t: number): number => ((t - t0) / 1000) * PX_PER_SECOND;
  const processes = [...new Set(ops.map((o) => o.process))].sort();
  const row = new Map(processes.map((p, i) => [p, i]));
  const height = (processes.length + 2) * ROW_PX;
  const width = x(end) + 200;
  const bars = ops.map((op) => bar(op, x(op.call), x(op.return ?? end), (row.get(op.process) ?? 0) * ROW_PX + ROW_PX)).join('');
  const bands = journal.faults.map((f, i) => {
    const left = x(f.start);
    const w = Math.max(2, x(f.end ?? end) - left);
    const color = f.cluster ? 'rgba(220,60,60,0.12)' : 'rgba(60,60,220,0.10)';
    return `<div class="band" style="left:${left}px;width:${w}px;background:${color}" title="${escape(`${f.name}: ${f.detail}`)}"><span style="top:${(i % 3) * 12}px">${escape(f.name)}</span></div>`;
  }).join('');
  const marks = journal.marks.map((m) => `<div class="mark" style="left:${x(m.time)}px"><span>${escape(m.name)}</span></div>`).join('');
  const labels = processes.map((p, i) => `<div class="label" style="top:${i * ROW_PX + ROW_PX}px">${escape(p)}</div>`).join('');
  const verdicts = [...result.failures, ...result.reports.flatMap((r) => r.violations.map((v) => `${r.workload}: ${v}`))];
  return `<!doctype html><html><head><meta charset="utf-8"><title>chaos seed ${result.seed}</title><style>
body{font:12px sans-serif;margin:0}header{padding:8px 12px;background:#f4f4f4;border-bottom:1px solid #ccc}
.ok{color:#080}.bad{color:#b00}#wrap{display:flex}#labels{position:relative;width:110px;flex:none;height:${height}px;border-right:1px solid #ccc}
.label{position:absolute;left:4px;height:${ROW_PX}px;line-height:${ROW_PX}px;white-space:nowrap}
#scroll{overflow-x:auto;flex:1}#plot{position:relative;width:${width}px;height:${height}px}
.op{position:absolute;height:${ROW_PX - 6}px;border-radius:2px;min-width:2px;opacity:.85}
.o-ok{background:#4a4}.o-fail{background:#bbb}.o-info{background:#e90}.o-pending{background:#e90;opacity:.5}
.band{position:absolute;top:0;bottom:0}.band span{position:absolute;left:2px;font-size:10px;color:#800}
.mark{position:absolute;top:0;bottom:0;border-left:2px dashed #333}.mark span{position:absolute;top:0;left:3px;font-weight:bold}
</style></head><body><header><b>seed ${result.seed}</b> — <span class="${result.ok ? 'ok' : 'bad'}">${result.ok ? 'no violation' : 'FAILED'}</span>,
${result.checked} items checked; ${journal.ops.length} operations (${ops.length} drawn), ${journal.faults.length} faults.
Green: ok; grey: failed (no effect); orange: unknown outcome; red bands: faults of the cluster; blue bands: faults of one client. Hover for details; times in seconds from the first phase.
${verdicts.length > 0 ? `<ul class="bad">${verdicts.map((v) => `<li>${escape(v)}</li>`).join('')}</ul>` : ''}</header>
<div id="wrap"><div id="labels">${labels}</div><div id="scroll"><div id="plot">${bands}${marks}${bars}</div></div></div></body></html>\n`;

  function bar(op: OpRecord, left: number, right: number, top: number): string {
    const outcome = op.outcome ?? 'pending';
    const title = `${op.process} ${op.f} ${JSON.stringify(op.input)} → ${outcome} ${JSON.stringify(op.output) ?? ''} [${((op.call - t0) / 1000).toFixed(3)} s, ${op.return === undefined ? 'no answer' : `${(op.return - op.call).toFixed(1)} ms`}]`;
    return `<div class="op o-${outcome}" style="left:${left.toFixed(1)}px;width:${Math.max(2, right - left).toFixed(1)}px;top:${top + 3}px" title="${escape(title)}"></div>`;
  }
}
