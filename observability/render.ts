/**
 * Renders a dashboard's panels from a Prometheus into a self-contained HTML page (Chart.js inlined),
 * for a headless Chromium to screenshot: how the README's overview picture is made where no Grafana
 * can be installed. Same queries, same legends as the Grafana JSON; a stat panel shows its last value.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import escapeHtml from 'escape-html';
import type { DashboardSpec, PanelSpec } from './panels.ts';
import { legendOf, queryRange } from './prom-api.ts';

interface Drawn { title: string; unit: string; kind: 'timeseries' | 'stat'; width: number; series: { label: string; points: [number, number][] }[] }

const PALETTE = ['#5794f2', '#73bf69', '#f2cc0c', '#ff9830', '#f2495c', '#b877d9', '#8ab8ff', '#96d98d', '#fade2a', '#ffb357'];

export async function dashboardData(prometheus: string, spec: DashboardSpec, o: { start: number; end: number; stepS: number; rateInterval: string }): Promise<{ row: string; panels: Drawn[] }[]> {
  const rows = [];
  for (const r of spec.rows) {
    const panels: Drawn[] = [];
    for (const p of r.panels) panels.push(await panelData(prometheus, p, o));
    rows.push({ row: r.title, panels });
  }
  return rows;
}

async function panelData(prometheus: string, p: PanelSpec, o: { start: number; end: number; stepS: number; rateInterval: string }): Promise<Drawn> {
  const series: Drawn['series'] = [];
  for (const x of p.queries) {
    const r = await queryRange(prometheus, x.expr, o);
    if (r.ok) for (const s of r.series) series.push({ label: legendOf(x.legend, s.labels) || x.legend, points: s.points.filter(([, v]) => Number.isFinite(v)) });
  }
  return { title: p.title, unit: p.unit, kind: p.kind ?? 'timeseries', width: p.width ?? (p.kind === 'stat' ? 6 : 12), series: legible(series) };
}

/** A picture has no tooltip: series that stay at zero are left out when others move, and at most 10 are drawn (the largest). */
function legible(series: Drawn['series']): Drawn['series'] {
  const peak = (s: Drawn['series'][number]) => Math.max(0, ...s.points.map(([, v]) => v));
  const moving = series.filter((s) => peak(s) > 0);
  return (moving.length ? moving : series.slice(0, 1)).sort((a, b) => peak(b) - peak(a)).slice(0, 10);
}

function chartJs(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFileSync(join(dirname(main), 'chart.umd.min.js'), 'utf8');
}

export function dashboardHtml(spec: DashboardSpec, rows: { row: string; panels: Drawn[] }[], subtitle: string): string {
  const h = (s: string) => escapeHtml(s);
  let n = 0;
  const charts: unknown[] = [];
  const body = rows.map((r) => `<h2>${h(r.row)}</h2><div class="grid">${r.panels.map((p) => {
    const id = `c${n++}`;
    if (p.kind === 'stat') {
      const last = p.series.map((s) => `<div class="stat"><span class="v">${h(fmt(s.points.at(-1)?.[1], p.unit))}</span><span class="l">${h(s.label)}</span></div>`).join('');
      return `<div class="panel" style="grid-column: span ${p.width}"><h3>${h(p.title)}</h3><div class="stats">${last || '<span class="l">no data</span>'}</div></div>`;
    }
    charts.push({ id, unit: p.unit, datasets: p.series.map((s, i) => ({ label: s.label, data: s.points.map(([x, y]) => ({ x, y })), borderColor: PALETTE[i % PALETTE.length], backgroundColor: `${PALETTE[i % PALETTE.length]}33`, borderWidth: 1.5, pointRadius: 0, fill: false, tension: 0.2 })) });
    return `<div class="panel" style="grid-column: span ${p.width}"><h3>${h(p.title)}</h3><div class="chart"><canvas id="${id}"></canvas></div></div>`;
  }).join('')}</div>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; padding: 14px 18px; background: #111217; color: #ccccdc; font: 13px system-ui, sans-serif; width: 1560px; }
h1 { font-size: 18px; margin: 0 0 2px; color: #fff; } .sub { color: #8e8e9e; margin-bottom: 8px; }
h2 { font-size: 14px; color: #d8d9da; margin: 14px 0 6px; }
.grid { display: grid; grid-template-columns: repeat(24, 1fr); gap: 8px; }
.panel { background: #181b1f; border: 1px solid #2c3235; border-radius: 3px; padding: 6px 8px; }
.panel h3 { font-size: 12px; margin: 0 0 4px; color: #ccccdc; font-weight: 500; }
.chart { height: 190px; } .stats { display: flex; gap: 18px; align-items: baseline; min-height: 60px; flex-wrap: wrap; }
.stat .v { font-size: 30px; color: #73bf69; margin-right: 6px; } .stat .l { color: #8e8e9e; }
</style></head><body><h1>${h(spec.title)}</h1><div class="sub">${h(subtitle)}</div>${body}
<script>${chartJs()}</script><script>
const units = { ops: (v) => v.toFixed(2) + '/s', s: (v) => v < 1 ? (v * 1000).toFixed(0) + ' ms' : v.toFixed(1) + ' s', short: (v) => String(Math.round(v * 100) / 100), bytes: (v) => (v / 1048576).toFixed(1) + ' MiB', Bps: (v) => (v / 1024).toFixed(1) + ' KiB/s', percentunit: (v) => (v * 100).toFixed(1) + '%' };
for (const c of ${JSON.stringify(charts)}) {
  const f = units[c.unit] || ((v) => String(v));
  new Chart(document.getElementById(c.id), { type: 'line', data: { datasets: c.datasets }, options: {
    animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
    scales: { x: { type: 'linear', ticks: { color: '#8e8e9e', maxTicksLimit: 6, callback: (v) => new Date(v).toISOString().slice(11, 19) }, grid: { color: '#2c3235' } },
              y: { beginAtZero: true, ticks: { color: '#8e8e9e', maxTicksLimit: 5, callback: f }, grid: { color: '#2c3235' } } },
    plugins: { legend: { position: 'bottom', labels: { color: '#ccccdc', boxWidth: 10, font: { size: 10 } } } } } });
}
document.body.dataset.rendered = 'yes';
</script></body></html>`;
}

function fmt(v: number | undefined, unit: string): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (unit === 's') return v < 1 ? `${(v * 1000).toFixed(0)} ms` : `${v.toFixed(1)} s`;
  return String(Math.round(v * 100) / 100);
}
