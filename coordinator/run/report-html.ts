/**
 * The HTML report (`--report-html`): one self-contained page (inline CSS and SVG, no scripts, no
 * network) with the job's summary, the error of every quantized layer, the bits allocation,
 * the fallbacks and the slowest tensors. Charts are drawn server-side as SVG so the page renders
 * the same anywhere, and each bar has a tooltip (`<title>`) with the exact figures.
 */
import { basename } from 'node:path';

import type { JobResult } from './job.js';
import type { TensorOutcome } from './tensor.js';

/** Colours per width; tests look for them in a screenshot to know the charts were drawn. */
export const COLORS = { 2: '#e11d48', 4: '#2563eb', 8: '#059669', keep: '#6b7280', time: '#f59e0b' } as const;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const qualified = (o: TensorOutcome) => (o.plan.component !== undefined ? `${o.plan.component}/${o.plan.name}` : o.plan.name);
const color = (bits: number, kept: boolean) => (kept ? COLORS.keep : (COLORS[bits as 2 | 4 | 8] ?? COLORS.keep));
const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
/** SQNR shown on the chart: exact reconstructions and very high values are capped. */
const SQNR_CAP = 60;

function errorChart(outcomes: TensorOutcome[]): string {
  const q = outcomes.filter((o) => o.method !== 'keep');
  if (q.length === 0) return '<p>No tensor was quantized.</p>';
  const bar = Math.max(4, Math.min(24, Math.floor(1100 / q.length)));
  const [w, h, pad] = [q.length * bar + 60, 260, 30];
  const y = (db: number) => h - pad - (Math.min(Math.max(db, 0), SQNR_CAP) / SQNR_CAP) * (h - 2 * pad);
  const grid = [0, 10, 20, 30, 40, 50, 60]
    .map((v) => `<line x1="40" x2="${w}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text x="34" y="${y(v) + 4}" class="axis">${v}</text>`)
    .join('');
  const bars = q
    .map((o, i) => {
      const db = Number.isFinite(o.quality.sqnrDb) ? o.quality.sqnrDb : SQNR_CAP;
      const top = y(db);
      const tip = `${qualified(o)}: ${o.scheme}, SQNR ${Number.isFinite(o.quality.sqnrDb) ? o.quality.sqnrDb.toFixed(2) : 'exact'} dB, cosine ${o.quality.cosine.toFixed(5)}`;
      return `<rect x="${44 + i * bar}" y="${top}" width="${bar - 1}" height="${h - pad - top}" fill="${color(o.bits, false)}"><title>${esc(tip)}</title></rect>`;
    })
    .join('');
  return `<svg id="error-chart" role="img" aria-label="SQNR per quantized layer" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${grid}${bars}<text x="4" y="14" class="label">SQNR dB</text></svg>`;
}

function allocationChart(outcomes: TensorOutcome[]): string {
  const groups = new Map<string, { tensors: number; bytes: number; color: string }>();
  for (const o of outcomes) {
    const kept = o.method === 'keep';
    const key = kept ? 'kept' : `${o.bits}-bit`;
    const g = groups.get(key) ?? { tensors: 0, bytes: 0, color: color(o.bits, kept) };
    g.tensors++;
    g.bytes += o.payloadBytes;
    groups.set(key, g);
  }
  const total = [...groups.values()].reduce((s, g) => s + g.bytes, 0) || 1;
  const rows = [...groups.entries()].sort((a, b) => b[1].bytes - a[1].bytes);
  const [w, rowH] = [700, 34];
  const bars = rows
    .map(([k, g], i) => {
      const len = Math.max(2, (g.bytes / total) * (w - 260));
      return `<text x="0" y="${i * rowH + 22}" class="label">${esc(k)}</text><rect x="70" y="${i * rowH + 6}" width="${len}" height="${rowH - 10}" fill="${g.color}"><title>${esc(`${k}: ${g.tensors} tensors, ${mib(g.bytes)}`)}</title></rect><text x="${78 + len}" y="${i * rowH + 22}" class="label">${g.tensors} tensors, ${mib(g.bytes)} (${((100 * g.bytes) / total).toFixed(1)}%)</text>`;
    })
    .join('');
  return `<svg id="allocation-chart" role="img" aria-label="stored bytes per width" width="${w}" height="${rows.length * rowH + 6}">${bars}</svg>`;
}

function timingChart(outcomes: TensorOutcome[]): string {
  const slow = outcomes.filter((o) => o.seconds !== undefined).sort((a, b) => b.seconds! - a.seconds!).slice(0, 20);
  if (slow.length === 0) return '<p>No timings.</p>';
  const max = slow[0]!.seconds! || 1e-9;
  const [w, rowH] = [900, 22];
  const bars = slow
    .map((o, i) => {
      const len = Math.max(2, (o.seconds! / max) * 420);
      return `<text x="0" y="${i * rowH + 15}" class="label">${esc(qualified(o).slice(-56))}</text><rect x="380" y="${i * rowH + 4}" width="${len}" height="${rowH - 7}" fill="${COLORS.time}"><title>${esc(`${qualified(o)}: ${(o.seconds! * 1000).toFixed(1)} ms`)}</title></rect><text x="${386 + len}" y="${i * rowH + 15}" class="label">${(o.seconds! * 1000).toFixed(1)} ms</text>`;
    })
    .join('');
  return `<svg id="timing-chart" role="img" aria-label="slowest tensors" width="${w}" height="${slow.length * rowH + 4}">${bars}</svg>`;
}

function fallbackTable(outcomes: TensorOutcome[]): string {
  const rows = outcomes.flatMap((o) => o.fallbacks.map((f) => `<tr><td>${esc(qualified(o))}</td><td>${esc(f.fromScheme)}</td><td>${esc(f.toScheme)}</td><td>${f.cosine.toFixed(5)}</td><td>${f.threshold}</td></tr>`));
  if (rows.length === 0) return '<p id="fallbacks">No fallbacks: every tensor met min_accuracy with its first scheme.</p>';
  return `<table id="fallbacks"><thead><tr><th>tensor</th><th>from</th><th>to</th><th>cosine</th><th>threshold</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export function buildHtmlReport(r: JobResult, startedAt: Date): string {
  const s = r.summary;
  const facts: [string, string][] = [
    ['model', r.layout.root],
    ['output', r.outputPath],
    ['started', startedAt.toISOString()],
    ['time', `${r.seconds.toFixed(2)} s (${r.mode})`],
    ['modality', `${r.modality} (${r.modalityReason})`],
    ['tensors', `${s.tensors} (${s.quantized} quantized, ${s.kept} kept)`],
    ['size', `${mib(s.sourceBytes)} → ${mib(s.fileBytes)} (${s.compressionRatio.toFixed(2)}×)`],
    ['cosine', `min ${s.minCosine.toFixed(5)}, mean ${s.meanCosine.toFixed(5)}`],
    ['fallbacks', String(s.fallbacks)],
  ];
  const legend = ([2, 4, 8] as const).map((b) => `<span class="key" style="background:${COLORS[b]}"></span>${b}-bit`).join(' ') + ` <span class="key" style="background:${COLORS.keep}"></span>kept`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ArrowQuant report: ${esc(basename(r.outputPath))}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111;background:#fff}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
.grid{stroke:#e5e7eb} .axis{font-size:11px;fill:#555;text-anchor:end} .label{font-size:12px;fill:#222}
.key{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:middle}
</style></head><body>
<h1>ArrowQuant report</h1>
<table id="summary">${facts.map(([k, v]) => `<tr><th>${k}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Error per quantized layer (SQNR, model order)</h2><div>${legend}</div>
${errorChart(r.tensors)}
<h2>Bits allocation (stored bytes)</h2>
${allocationChart(r.tensors)}
<h2>Fallbacks</h2>
${fallbackTable(r.tensors)}
<h2>Slowest tensors (first read to written)</h2>
${timingChart(r.tensors)}
</body></html>
`;
}
