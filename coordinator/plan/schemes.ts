/**
 * From (method, bits, group size) to the kernels' format, and the quality gate's fallback
 * ladder, both read from the format registry (common/formats.ts): when a tensor's accuracy is
 * below `min_accuracy`, the next rung the format declares is tried (more bits, never fewer), and
 * as the last resort the tensor is kept in its source dtype, which is exact.
 */
import type { BitWidth, Method } from '../../common/config/index.js';
import type { FormatSpec } from '../../common/native.js';
import { describeFormat, familyOfMethod, type FormatDescription } from '../../common/formats.js';

/** The methods a tensor is quantized with once `auto` has been resolved (plan/strategy.ts). */
export type ConcreteMethod = Exclude<Method, 'auto'>;

export interface SchemeChoice {
  /** What produced the codes (the file's `method` column): `gptq` for every Hessian-guided rung. */
  method: ConcreteMethod;
  bits: number;
  /** 0 for formats without groups (per channel, per tensor). */
  groupSize: number;
  /** The format for the kernels: its canonical name. */
  format: FormatSpec;
  /** Canonical name, as the kernels and the file spell it. */
  scheme: string;
  /** Quantize with the layer's Hessian (GPTQ onto this scheme's grid). */
  calibrated: boolean;
}

/**
 * Methods that run GPTQ onto their own grid where the layer has a Hessian (the strategy table's
 * residual 2-bit, docs/CALIBRATION.md); the others run GPTQ only when asked (`method: gptq`).
 */
const GPTQ_WHEN_CALIBRATED: ReadonlySet<string> = new Set(['r2q']);

/** The grid `method: gptq` quantizes onto unless `gptq_format` (or a mix) names another. */
const GPTQ_GRID = 'rtn';

function choice(method: ConcreteMethod, d: FormatDescription, calibrated: boolean): SchemeChoice {
  return { method, bits: d.bits, groupSize: d.groupSize, format: { name: d.scheme }, scheme: d.scheme, calibrated };
}

/**
 * The scheme of `method` at `bits`/`groupSize` (ignored by formats that fix them). `calibrated`:
 * the layer has a Hessian (`gptq` always is calibrated: the planner turns it into its target
 * format for a layer without one). `gptqTarget`: the format `gptq` quantizes onto (default: rtn).
 */
export function schemeFor(method: ConcreteMethod, bits: number, groupSize: number, calibrated = false, gptqTarget?: string): SchemeChoice {
  if (method === 'gptq') return choice('gptq', describeFormat({ name: gptqTarget ?? GPTQ_GRID, bits, groupSize }), true);
  const d = describeFormat({ name: method, bits, groupSize });
  const gptq = calibrated && GPTQ_WHEN_CALIBRATED.has(method) && d.gptqTarget;
  return choice(gptq ? 'gptq' : method, d, gptq);
}

/** The bits a method stores: `bit_width` where its family has several, else the family's one. */
export function methodBits(method: ConcreteMethod, bitWidth: BitWidth): number {
  const family = familyOfMethod(method);
  return family === undefined || family.bits.length > 1 ? bitWidth : family.bits[0]!;
}

/** Whether rows of `cols` elements fit the format (GGUF blocks need whole blocks per row). */
export function fitsRow(c: SchemeChoice, cols: number): boolean {
  return cols % describeFormat(c.scheme).rowMultiple === 0;
}

/**
 * Rungs to try, in order: the requested scheme, then the ladder its format declares (more bits;
 * a Hessian-guided rung stays Hessian-guided where the next grid is a GPTQ target).
 */
export function fallbackLadder(first: SchemeChoice): SchemeChoice[] {
  const rungs = describeFormat(first.scheme).fallback.map((name) => {
    const d = describeFormat(name);
    const calibrated = first.calibrated && d.gptqTarget;
    return choice(calibrated ? 'gptq' : d.method, d, calibrated);
  });
  return [first, ...rungs];
}
