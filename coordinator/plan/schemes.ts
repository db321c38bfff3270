/**
 * From (method, bits, group size) to the kernels' format, and the fallback ladder: when a
 * tensor's cosine similarity is below `min_accuracy`, the next rung is tried (INT2 → INT4 →
 * INT8, never below the requested bits), and as the last resort the tensor is kept in its source
 * dtype, which is exact.
 */
import type { BitWidth, Method } from '../../common/config/index.js';
import type { FormatSpec } from '../../common/native.js';

export interface SchemeChoice {
  method: Method;
  bits: number;
  /** 0 for formats without groups (blocks of fixed size or per channel). */
  groupSize: number;
  format: FormatSpec;
  /** Canonical name, as the kernels and the file spell it. */
  scheme: string;
}

export function schemeFor(method: Method, bits: number, groupSize: number): SchemeChoice {
  switch (method) {
    case 'rtn':
    case 'rtn_sym': {
      const symmetric = method === 'rtn_sym';
      return {
        method,
        bits,
        groupSize,
        format: { name: 'rtn', bits, groupSize, symmetric },
        scheme: `rtn_int${bits}_g${groupSize}_${symmetric ? 'sym' : 'asym'}`,
      };
    }
    case 'nf4':
      return { method, bits: 4, groupSize: 64, format: { name: 'nf4' }, scheme: 'nf4' };
    case 'q4_0':
      return { method, bits: 4, groupSize: 32, format: { name: 'q4_0' }, scheme: 'q4_0' };
    case 'q8_0':
      return { method, bits: 8, groupSize: 32, format: { name: 'q8_0' }, scheme: 'q8_0' };
    case 'fp8_e4m3':
    case 'fp8_e5m2':
      return { method, bits: 8, groupSize: 0, format: { name: method }, scheme: method };
    case 'int8_channel':
      return { method, bits: 8, groupSize: 0, format: { name: 'int8_channel' }, scheme: 'int8_channel' };
  }
}

/** The bits a method stores: fixed for the block formats, `bit_width` for the integer grids. */
export function methodBits(method: Method, bitWidth: BitWidth): number {
  return method === 'rtn' || method === 'rtn_sym' ? bitWidth : schemeFor(method, 4, 32).bits;
}

/** GGUF blocks need rows that are a multiple of 32; such tensors use the integer grid instead. */
export function fitsRow(choice: SchemeChoice, cols: number): boolean {
  return !(choice.method === 'q4_0' || choice.method === 'q8_0') || cols % 32 === 0;
}

/** Rungs to try, in order: the requested scheme, then more bits in the same family. */
export function fallbackLadder(first: SchemeChoice): SchemeChoice[] {
  const ladder = [first];
  const more = (bits: number) => [2, 4, 8].filter((b) => b > bits);
  switch (first.method) {
    case 'rtn':
    case 'rtn_sym':
      for (const b of more(first.bits)) ladder.push(schemeFor(first.method, b, first.groupSize));
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
