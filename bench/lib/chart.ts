/**
 * A small SVG chart of a comparison, written next to the results file: one panel per measure (ops/s,
 * p99 ms, ...), in each a group of bars per scenario or phase, one bar per system, its value printed
 * above it. Plain SVG 1.1 text, no dependency; every system has the same color in every chart.
 */

export interface ChartGroup {
  /** The scenario or phase: "A (10,000 keys)". */
  label: string;
  /** One bar per system, in legend order; a missing system leaves a gap. */
  values: Array<{ system: string; value: number }>;
}

export interface ChartPanel {
  /** "lock cycles per second (higher is better)". */
  title: string;
  /** Formats a value for its label: 12345 → "12,345". */
  format(value: number): string;
  groups: ChartGroup[];
}

export interface Chart {
  title: string;
  /** A second line: the machine, the date, the command. */
  subtitle?: string;
  panels: ChartPanel[];
}

const WIDTH = 960;
const MARGIN_LEFT = 70;
const MARGIN_RIGHT = 20;
const HEADER_HEIGHT = 70;
const PANEL_HEIGHT = 260;
const PANEL_TITLE_HEIGHT = 28;
const AXIS_LABEL_HEIGHT = 36;
const TICKS = 5;
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/** Fixed colors by system label; others get the spare ones in turn. */
const COLORS: Record<string, string> = { HikariKeeper: '#d94f1e', Redis: '#7a7a7a', etcd: '#2f6db5', ZooKeeper: '#3a9a4a' };
const SPARE_COLORS = ['#8e5bb5', '#c9a227', '#2aa198', '#b5476b'];

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Above this ratio between a panel's largest and smallest positive value, the panel's scale is logarithmic (the small bars stay readable). */
export const LOG_SCALE_RATIO = 30;

/** The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ `value` / TICKS: a round tick step. */
export function niceStep(max: number): number {
  if (!(max > 0)) return 1;
  const raw = max / TICKS;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  return step;
}

function systemsOf(chart: Chart): string[] {
  const seen: string[] = [];
  for (const panel of chart.panels) for (const g of panel.groups) for (const v of g.values) if (!seen.includes(v.system)) seen.push(v.system);
  return seen;
}

function colorMap(systems: readonly string[]): Map<string, string> {
  let spare = 0;
  return new Map(systems.map((s) => [s, COLORS[s] ?? SPARE_COLORS[spare++ % SPARE_COLORS.length]]));
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${FONT} ${attrs}>${escapeXml(content)}</text>`;
}

interface Axis {
  /** 0 (bottom) .. 1 (top) for a value. */
  position(value: number): number;
  ticks: number[];
}

function linearAxis(max: number): Axis {
  const step = niceStep(max);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const ticks: number[] = [];
  for (let t = 0; t <= top + step / 2; t += step) ticks.push(t);
  return { position: (v) => Math.max(0, v) / top, ticks };
}

/** Decades from below `min` to above `max`; a bar starts at the bottom decade. */
function logAxis(min: number, max: number): Axis {
  const low = Math.floor(Math.log10(min));
  const high = Math.max(low + 1, Math.ceil(Math.log10(max)));
  const ticks = Array.from({ length: high - low + 1 }, (_, i) => 10 ** (low + i));
  return { position: (v) => (v > 0 ? Math.max(0, (Math.log10(v) - low) / (high - low)) : 0), ticks };
}

function renderPanel(panel: ChartPanel, top: number, systems: readonly string[], colors: Map<string, string>): string[] {
  const out: string[] = [text(MARGIN_LEFT, top + 18, panel.title, 'font-size="15" font-weight="bold"')];
  const plotTop = top + PANEL_TITLE_HEIGHT + 14;
  const plotBottom = top + PANEL_HEIGHT - AXIS_LABEL_HEIGHT;
  const plotWidth = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
  const values = panel.groups.flatMap((g) => g.values.map((v) => v.value)).filter((v) => Number.isFinite(v) && v > 0);
  const max = Math.max(0, ...values);
  const log = values.length > 0 && max / Math.min(...values) > LOG_SCALE_RATIO;
  const axis = log ? logAxis(Math.min(...values), max) : linearAxis(max);
  const y = (v: number) => plotBottom - axis.position(v) * (plotBottom - plotTop);
  if (log) out[0] = text(MARGIN_LEFT, top + 18, `${panel.title} — log scale`, 'font-size="15" font-weight="bold"');
  for (const t of axis.ticks) {
    out.push(`<line x1="${MARGIN_LEFT}" x2="${WIDTH - MARGIN_RIGHT}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e3e3e3"/>`);
    out.push(text(MARGIN_LEFT - 6, y(t) + 4, t === 0 ? '0' : panel.format(t), 'font-size="11" text-anchor="end" fill="#555"'));
  }
  const groupWidth = plotWidth / Math.max(1, panel.groups.length);
  const barWidth = Math.min(48, (groupWidth * 0.8) / Math.max(1, systems.length));
  panel.groups.forEach((g, gi) => {
    const left = MARGIN_LEFT + gi * groupWidth + (groupWidth - barWidth * systems.length) / 2;
    systems.forEach((system, si) => {
      const v = g.values.find((x) => x.system === system);
      if (v === undefined || !Number.isFinite(v.value)) return;
      const x = left + si * barWidth;
      const h = Math.max(0, plotBottom - y(v.value));
      out.push(`<rect x="${(x + 2).toFixed(1)}" y="${(plotBottom - h).toFixed(1)}" width="${(barWidth - 4).toFixed(1)}" height="${h.toFixed(1)}" fill="${colors.get(system)}"><title>${escapeXml(`${system}, ${g.label}: ${panel.format(v.value)}`)}</title></rect>`);
      out.push(text(x + barWidth / 2, plotBottom - h - 4, panel.format(v.value), 'font-size="10" text-anchor="middle" fill="#333"'));
    });
    out.push(text(MARGIN_LEFT + gi * groupWidth + groupWidth / 2, plotBottom + 18, g.label, 'font-size="12" text-anchor="middle"'));
  });
  out.push(`<line x1="${MARGIN_LEFT}" x2="${WIDTH - MARGIN_RIGHT}" y1="${plotBottom}" y2="${plotBottom}" stroke="#888"/>`);
  return out;
}

/** The chart as a standalone SVG document. */
export function renderSvg(chart: Chart): string {
  const systems = systemsOf(chart);
  const colors = colorMap(systems);
  const height = HEADER_HEIGHT + chart.panels.length * PANEL_HEIGHT;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    text(MARGIN_LEFT, 24, chart.title, 'font-size="18" font-weight="bold"'),
  ];
  if (chart.subtitle) out.push(text(MARGIN_LEFT, 44, chart.subtitle, 'font-size="11" fill="#555"'));
  let x = MARGIN_LEFT;
  for (const s of systems) {
    out.push(`<rect x="${x}" y="54" width="12" height="12" fill="${colors.get(s)}"/>`, text(x + 16, 64, s, 'font-size="12"'));
    x += 28 + s.length * 7;
  }
  chart.panels.forEach((p, i) => out.push(...renderPanel(p, HEADER_HEIGHT + i * PANEL_HEIGHT, systems, colors)));
  out.push('</svg>', '');
  return out.join('\n');
}
