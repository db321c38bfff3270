/**
 * From (method, bits, group size) to the kernels' format, and the fallback ladder: when a
 * tensor's cosine similarity is below `min_accuracy`, the next rung is tried (INT2 → INT4 →
 * INT8, never below the requested bits), and as the last resort the tensor is kept in its source
 * dtype, which is exact.
 */
import type { BitWidth, Method } from '../../common/config/index.js';
import type { FormatSpec } from '../../common/native.js';

/** The methods a tensor is quantized with once `auto` has been resolved (plan/strategy.ts). */
export type ConcreteMethod = Exclude<Method, 'auto'>;

export interface SchemeChoice {
  /** What produced the codes (the file's `method` column): `gptq` for every Hessian-guided rung. */
  method: ConcreteMethod;
  bits: number;
  /** 0 for formats without groups (blocks of fixed size or per channel). */
  groupSize: number;
  format: FormatSpec;
  /** Canonical name, as the kernels and the file spell it. */
  scheme: string;
  /** Quantize with the layer's Hessian (GPTQ onto this scheme's grid). */
  calibrated: boolean;
}

/**
 * The scheme of `method` at `bits`/`groupSize`. `calibrated`: the layer has a Hessian, so `r2q`
 * is GPTQ onto the R2Q grid (`gptq` always is calibrated: the planner turns it into `rtn` for a
 * layer without calibration).
 */
export function schemeFor(method: ConcreteMethod, bits: number, groupSize: number, calibrated = false): SchemeChoice {
  const fixed = (name: ConcreteMethod, b: number, g: number, scheme: string = name): SchemeChoice => ({
    method: name,
    bits: b,
    groupSize: g,
    format: { name: scheme === name ? name : scheme },
    scheme,
    calibrated: false,
  });
  switch (method) {
    case 'rtn':
    case 'rtn_sym':
    case 'gptq': {
      const symmetric = method === 'rtn_sym';
      return {
        method,
        bits,
        groupSize,
        format: { name: 'rtn', bits, groupSize, symmetric },
        scheme: `rtn_int${bits}_g${groupSize}_${symmetric ? 'sym' : 'asym'}`,
        calibrated: method === 'gptq',
      };
    }
    case 'hqq':
      return { method, bits, groupSize, format: { name: 'hqq', bits, groupSize }, scheme: `hqq_int${bits}_g${groupSize}`, calibrated: false };
    case 'r2q':
      return { method: calibrated ? 'gptq' : 'r2q', bits: 2, groupSize, format: { name: 'r2q', groupSize }, scheme: `r2q_g${groupSize}`, calibrated };
    case 'nf4':
      return fixed('nf4', 4, 64);
    case 'q4_0':
      return fixed('q4_0', 4, 32);
    case 'q8_0':
      return fixed('q8_0', 8, 32);
    case 'fp8_e4m3':
    case 'fp8_e5m2':
      return fixed(method, 8, 0);
    case 'int8_channel':
      return fixed('int8_channel', 8, 0);
  }
}

/** The bits a method stores: fixed for the block formats and r2q, `bit_width` for the integer grids. */
export function methodBits(method: ConcreteMethod, bitWidth: BitWidth): number {
  return method === 'rtn' || method === 'rtn_sym' || method === 'hqq' || method === 'gptq' ? bitWidth : schemeFor(method, 4, 32).bits;
}

/** GGUF blocks need rows that are a multiple of 32; such tensors use the integer grid instead. */
export function fitsRow(choice: SchemeChoice, cols: number): boolean {
  return !(choice.method === 'q4_0' || choice.method === 'q8_0') || cols % 32 === 0;
}

/**
 * Rungs to try, in order: the requested scheme, then more bits in the same family (a GPTQ rung
 * falls back to GPTQ at more bits, with the same Hessian; R2Q to the integer grid at 4 and 8).
 */
export function fallbackLadder(first: SchemeChoice): SchemeChoice[] {
  const ladder = [first];
  const more = (bits: number) => [2, 4, 8].filter((b) => b > bits);
  switch (first.method) {
    case 'rtn':
    case 'rtn_sym':
    case 'hqq':
    case 'gptq':
      if (first.format.name === 'r2q') {
        for (const b of [4, 8]) ladder.push(schemeFor('gptq', b, first.groupSize));
        break;
      }
      for (const b of more(first.bits)) ladder.push(schemeFor(first.method, b, first.groupSize));
      break;
    case 'r2q':
      for (const b of [4, 8]) ladder.push(schemeFor('rtn', b, first.groupSize));
      break;
    case 'q4_0':
      ladder.push(schemeFor('q8_0', 8, 32));
      break;
    case 'nf4':
      ladder.push(schemeFor('rtn', 8, 64));
      break;
    default:
      break;
  }
  return ladder;
}
