/**
 * Time-aware activation parameters: per timestep group, the 8-bit asymmetric scale and zero
 * point of a layer's input activations, from the calibration's ranges. The calibration's groups
 * are merged down to `num_time_groups` (adjacent groups, as evenly as the counts allow). With
 * spatial smoothing the activations are `x / s`, so the range comes from `act_absmax / s`
 * (symmetric: the sign of each channel's extreme is not recorded).
 *
 * Encoding an activation x at timestep t (FORMAT.md, "Time groups"): take the group with
 * t_start ≤ t < t_end, q = clamp(rne(x / scale) + zero_point, 0, 255), x̂ = (q − zero_point)·scale.
 */
import type { TimeGroupJs } from '../../common/native.js';

export const ACT_LEVELS = 255;

export interface TimeGroupInput {
  timestepGroups: [number, number][];
  /** [G, 2] min, max per group. */
  actRange?: Float32Array;
  /** [G, in] max |x| per group and channel. */
  actAbsmax?: Float32Array;
  /** Smoothing factors (the activations are divided by them), or undefined. */
  channelScales?: Float32Array;
}

function params(lo: number, hi: number): { scale: number; zeroPoint: number } {
  const l = Math.min(lo, 0);
  const h = Math.max(hi, 0);
  const scale = Math.fround((h - l) / ACT_LEVELS);
  if (!(scale > 0) || !Number.isFinite(scale)) return { scale: 1, zeroPoint: 0 };
  return { scale, zeroPoint: Math.min(ACT_LEVELS, Math.max(0, Math.round(-l / scale))) };
}

/** Per-group [min, max] of the (possibly smoothed) activations; undefined without the statistics needed. */
function ranges(input: TimeGroupInput): [number, number][] | undefined {
  const G = input.timestepGroups.length;
  if (input.channelScales) {
    const a = input.actAbsmax;
    if (!a) return undefined;
    const cols = a.length / G;
    const s = input.channelScales;
    return Array.from({ length: G }, (_, g) => {
      let m = 0;
      for (let j = 0; j < cols; j++) m = Math.max(m, a[g * cols + j]! / s[j]!);
      return [-m, m];
    });
  }
  const r = input.actRange;
  if (!r) return undefined;
  return Array.from({ length: G }, (_, g) => [r[2 * g]!, r[2 * g + 1]!]);
}

export function timeGroupParams(input: TimeGroupInput, maxGroups: number): TimeGroupJs[] | undefined {
  const per = ranges(input);
  if (!per) return undefined;
  const G = per.length;
  const K = Math.max(1, Math.min(G, maxGroups));
  const out: TimeGroupJs[] = [];
  for (let k = 0; k < K; k++) {
    const a = Math.floor((k * G) / K);
    const b = Math.floor(((k + 1) * G) / K);
    let lo = Infinity;
    let hi = -Infinity;
    for (let g = a; g < b; g++) {
      lo = Math.min(lo, per[g]![0]);
      hi = Math.max(hi, per[g]![1]);
    }
    const { scale, zeroPoint } = params(lo, hi);
    out.push({ tStart: input.timestepGroups[a]![0], tEnd: input.timestepGroups[b - 1]![1], scale, zeroPoint });
  }
  return out;
}
