/**
 * Time-aware activation parameters against one range for all timesteps, on activations whose
 * range drifts with the diffusion timestep (as DiT inputs do: the noise level sets their scale,
 * adaLN shifts them). Calibration rows and evaluation rows are separate draws of the same
 * distribution; the parameters come from the production code (coordinator/calibration/
 * time-groups.ts) exactly as a quantize run stores them, and each evaluation row is quantized
 * to 8 bits with the parameters looked up for its timestep (FORMAT.md, Time groups).
 *
 *   node dist/benches/time-aware.js [--groups 10] [--channels 1152] [--rows 4000]
 */
import { parseArgs } from 'node:util';

import { timeGroupParams } from '../coordinator/calibration/time-groups.js';
import { SplitMix32 } from '../common/random.js';
import { timestepGroups } from '../coordinator/calibration/synthetic-stats.js';

const T = 1000;
const { values } = parseArgs({ options: { groups: { type: 'string', default: '10' }, channels: { type: 'string', default: '1152' }, rows: { type: 'string', default: '4000' } } });
const G = Number(values.groups);
const C = Number(values.channels);
const N = Number(values.rows);

/** Activation row at timestep t: channel scales with outliers, a spread growing ~6× from t=0 to T, a shift. */
function makeDraw(seed: number): { t: number; x: Float32Array }[] {
  const shape = new SplitMix32(1);
  const d = Float64Array.from({ length: C }, () => Math.exp(0.4 * shape.normal()));
  for (let k = 0; k < C / 128; k++) d[shape.nextInt(C)]! *= 8;
  const rng = new SplitMix32(seed);
  return Array.from({ length: N }, () => {
    const t = rng.nextInt(T);
    const spread = 0.25 + 1.5 * (t / T) ** 1.5;
    const shift = 0.3 * Math.sin((Math.PI * t) / T);
    return { t, x: Float32Array.from({ length: C }, (_, j) => d[j]! * (spread * rng.normal() + shift)) };
  });
}

function stats(rows: { t: number; x: Float32Array }[], groups: [number, number][]): Float32Array {
  const range = new Float32Array(groups.length * 2);
  for (let g = 0; g < groups.length; g++) [range[2 * g], range[2 * g + 1]] = [Infinity, -Infinity];
  for (const { t, x } of rows) {
    const g = groups.findIndex(([a, b]) => a <= t && t < b);
    for (const v of x) {
      range[2 * g] = Math.min(range[2 * g]!, v);
      range[2 * g + 1] = Math.max(range[2 * g + 1]!, v);
    }
  }
  return range;
}

/** Σ(x − x̂)² and Σx² per evaluation group, 8-bit with the params of the row's timestep. */
function evaluate(rows: { t: number; x: Float32Array }[], params: { tStart: number; tEnd: number; scale: number; zeroPoint: number }[], report: [number, number][]) {
  const err = new Float64Array(report.length);
  const sig = new Float64Array(report.length);
  for (const { t, x } of rows) {
    const p = params.find((q) => q.tStart <= t && t < q.tEnd)!;
    const r = report.findIndex(([a, b]) => a <= t && t < b);
    for (const v of x) {
      const q = Math.min(255, Math.max(0, Math.round(v / p.scale) + p.zeroPoint));
      const y = (q - p.zeroPoint) * p.scale;
      err[r]! += (v - y) ** 2;
      sig[r]! += v * v;
    }
  }
  return { err, sig };
}

const groups = timestepGroups(G, T);
const calibration = makeDraw(11);
const evaluation = makeDraw(12);
const range = stats(calibration, groups);
const timeAware = timeGroupParams({ timestepGroups: groups, actRange: range }, G)!;
const single = timeGroupParams({ timestepGroups: groups, actRange: range }, 1)!;
const report = timestepGroups(5, T);
const a = evaluate(evaluation, timeAware, report);
const b = evaluate(evaluation, single, report);
const db = (s: number, e: number) => 10 * Math.log10(s / e);
console.log(`# 8-bit activation SQNR (dB), ${C} channels, ${N} evaluation rows (separate draw from the ${N} calibration rows), ${G} time groups vs one range`);
console.log(`${'timesteps'.padEnd(12)} ${'one range'.padStart(10)} ${'time-aware'.padStart(11)} ${'gain'.padStart(7)}`);
let te = 0;
let ts = 0;
let se = 0;
for (let r = 0; r < report.length; r++) {
  console.log(`${`[${report[r]![0]}, ${report[r]![1]})`.padEnd(12)} ${db(b.sig[r]!, b.err[r]!).toFixed(2).padStart(10)} ${db(a.sig[r]!, a.err[r]!).toFixed(2).padStart(11)} ${(db(a.sig[r]!, a.err[r]!) - db(b.sig[r]!, b.err[r]!)).toFixed(2).padStart(7)}`);
  te += a.err[r]!;
  se += b.err[r]!;
  ts += a.sig[r]!;
}
console.log(`${'all'.padEnd(12)} ${db(ts, se).toFixed(2).padStart(10)} ${db(ts, te).toFixed(2).padStart(11)} ${(db(ts, te) - db(ts, se)).toFixed(2).padStart(7)}   (MSE ratio ${(te / se).toFixed(3)})`);
