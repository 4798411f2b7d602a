/**
 * What a benchmark shows and keeps: an aligned table for the terminal (Markdown, so it pastes into a
 * README as is), JSON lines appended to a results file (one per row, with where and how it was
 * measured), and a one-line progress display while it runs.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { cpus, platform, release } from 'node:os';
import { dirname } from 'node:path';

// ---------------------------------------------------------------- tables

export interface Column<R> {
  header: string;
  /** Numbers align right (the default), names left. */
  align?: 'left' | 'right';
  value(row: R): string;
}

/** Rows already turned into text: what a workload hands back to be printed. */
export interface Table {
  /** Printed above the table. */
  title?: string;
  headers: string[];
  aligns: Array<'left' | 'right'>;
  cells: string[][];
}

export function makeTable<R>(columns: readonly Column<R>[], rows: readonly R[], title?: string): Table {
  return {
    title,
    headers: columns.map((c) => c.header),
    aligns: columns.map((c) => c.align ?? 'right'),
    cells: rows.map((r) => columns.map((c) => c.value(r))),
  };
}

/** The table as Markdown lines, every column padded to its widest cell. */
export function renderTable(t: Table): string[] {
  const widths = t.headers.map((h, i) => Math.max(h.length, 3, ...t.cells.map((row) => row[i].length)));
  const pad = (text: string, i: number) => (t.aligns[i] === 'left' ? text.padEnd(widths[i]) : text.padStart(widths[i]));
  const line = (cells: string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (t.aligns[i] === 'left' ? `:${'-'.repeat(w - 1)}` : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [...(t.title ? [t.title, ''] : []), line(t.headers), rule, ...t.cells.map(line)];
}

/** 12345.6 → "12,346". */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Milliseconds with 3 significant digits at most: 0.0423 → "0.042", 1.234 → "1.23", 123.4 → "123". */
export function formatMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

// ---------------------------------------------------------------- where it ran

export interface RunMetadata {
  /** ISO time the run started. */
  at: string;
  /** `git rev-parse --short HEAD`, or null outside a repository. */
  commit: string | null;
  /** Tracked files differ from the commit (other work in progress was measured too). */
  dirty: boolean | null;
  node: string;
  cores: number;
  cpuModel: string;
  os: string;
}

export function runMetadata(): RunMetadata {
  const git = (args: string[]): string | null => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 3000 }).trim();
    } catch {
      return null;
    }
  };
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no']);
  const cpuList = cpus();
  return {
    at: new Date().toISOString(),
    commit,
    dirty: status === null ? null : status.length > 0,
    node: process.version,
    cores: cpuList.length,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    os: `${platform()} ${release()}`,
  };
}

/** "machine: 2 cores (AMD EPYC), node v20.20.2, linux 6.1, commit dc5ae2b (+ local changes)". */
export function describeMachine(meta: RunMetadata): string {
  const commit = meta.commit === null ? 'no git commit' : `commit ${meta.commit}${meta.dirty ? ' (+ uncommitted changes)' : ''}`;
  return `machine: ${meta.cores} cores (${meta.cpuModel}), node ${meta.node}, ${meta.os}, ${commit}`;
}

// ---------------------------------------------------------------- results file

/**
 * Appends one JSON line per record to `file` (folders created): `{ bench, ...meta, params, ...record }`.
 * Returns the number of lines written.
 */
export function appendResults(
  file: string,
  bench: string,
  meta: RunMetadata,
  params: Record<string, unknown>,
  records: readonly Record<string, unknown>[],
): number {
  mkdirSync(dirname(file), { recursive: true });
  const lines = records.map((r) => JSON.stringify({ bench, ...meta, params, ...r }) + '\n');
  appendFileSync(file, lines.join(''));
  return lines.length;
}

// ---------------------------------------------------------------- progress

/**
 * One status line while a benchmark runs. On a terminal it is redrawn in place (`\r`, then erase to
 * the end of the line); elsewhere (a pipe, a CI log) every update is a plain line of its own.
 * `print` writes a permanent line without garbling the status line.
 */
export class Progress {
  private showing = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout, private readonly enabled = true) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  update(line: string): void {
    if (!this.enabled) return;
    if (this.tty) {
      const width = this.out.columns > 0 ? this.out.columns - 1 : 200;
      this.out.write(`\r${line.slice(0, width)}\x1b[K`);
      this.showing = true;
    } else {
      this.out.write(`  … ${line}\n`);
    }
  }

  /** Removes the status line (terminal only). */
  clear(): void {
    if (this.showing) this.out.write('\r\x1b[K');
    this.showing = false;
  }

  print(line: string): void {
    this.clear();
    this.out.write(`${line}\n`);
  }
}
