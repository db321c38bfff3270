/**
 * From an ArrowQuant tensor to GGUF bytes.
 *
 * Byte for byte: tensors of every format whose registry entry names a GGUF type (`q4_0`, `q8_0`,
 * the K-quants, ...: ArrowQuant's blocks *are* GGUF's, and the rows of a tensor whose last axis is
 * a multiple of the block are ggml rows of whole blocks) and kept F32/F16/BF16/F64/I8/I16/I32/I64
 * tensors. Anything else (other schemes, smoothed tensors whose codes encode W·diag(s), block rows
 * that are not ggml rows, unsigned and bool tensors) has no GGUF form: the export refuses it and
 * names the tensors, unless `reencode` says what to write instead (`f16`, `f32`, or `q8_0` where
 * the row allows it), and the result lists what was re-encoded.
 *
 * An architecture may also rearrange rows (a permutation, e.g. llama.cpp's q/k layout for rotary
 * embeddings), join tensors along their first axis (merged q/k/v), or widen a kept float tensor to
 * F32 (what llama.cpp's converters do with norms and biases): all exact on stored bytes, since a
 * GGUF row is self-contained.
 */
import type { QuantizedFile, TensorInfo } from '../../format/reader.js';
import { f32ToF16Bits } from '../../half.js';
import { quantize } from '../../native.js';
import { FORMAT_FAMILIES } from '../../formats.js';
import { ExportError } from '../errors.js';
import { floatValues } from '../select.js';
import { PLAIN, quantizedType, sizeOf, type GgufType } from './types.js';

export const REENCODINGS = ['f16', 'f32', 'q8_0'] as const;
export type Reencoding = (typeof REENCODINGS)[number];

/** What a stored tensor is written as. */
export interface TensorForm {
  t: TensorInfo;
  type: GgufType;
  bytes: number;
  /** Why it is re-encoded (undefined: written byte for byte). */
  reencoded?: string;
  /** A kept F16/BF16 tensor written as F32 (exact). */
  widened?: boolean;
}

export const lastDim = (t: { shape: readonly number[] }) => (t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1]!);
/** GGUF rows of a tensor: its elements over its last axis. */
export const rowsOf = (t: TensorInfo) => t.elements / lastDim(t);
export const qualified = (t: TensorInfo) => (t.component !== undefined ? `${t.component}/${t.name}` : t.name);

/** Why `t` has no byte-for-byte GGUF form, or undefined when it has one. */
function problem(t: TensorInfo, smoothed: boolean): string | undefined {
  if (t.method === 'keep') {
    const dtype = t.scheme.replace(/^keep_/, '');
    return PLAIN[dtype] ? undefined : `GGUF has no ${dtype} type`;
  }
  // Said first: re-encoding is the only way out for smoothed codes, whatever their format.
  if (smoothed) return 'its codes encode W·diag(s) (spatial smoothing), which GGUF cannot undo';
  const type = quantizedType(t.scheme);
  if (type === undefined) return `GGUF has no ${t.scheme} format`;
  if (lastDim(t) % type.blockElements !== 0) return `its last axis (${lastDim(t)}) is not a multiple of ${type.blockElements}, so its blocks are not ggml rows`;
  return undefined;
}

/**
 * Each tensor's GGUF form. Tensors without one are collected and refused together, naming each
 * (or re-encoded, with `reencode`).
 */
export async function tensorForms(f: QuantizedFile, tensors: readonly TensorInfo[], reencode: Reencoding | undefined): Promise<TensorForm[]> {
  const out: TensorForm[] = [];
  const refused: string[] = [];
  for (const t of tensors) {
    const smoothed = t.method !== 'keep' && (await f.channelScales(t)) !== undefined;
    const why = problem(t, smoothed);
    if (why === undefined) {
      const type = t.method === 'keep' ? PLAIN[t.scheme.replace(/^keep_/, '')]! : quantizedType(t.scheme)!;
      out.push({ t, type, bytes: sizeOf(type, t.elements) });
      continue;
    }
    // Only dequantized values can be re-encoded; a kept U8/BOOL/F8 tensor has no float form here.
    if (reencode === undefined || t.method === 'keep') {
      refused.push(`${qualified(t)} (${t.scheme}): ${why}`);
      continue;
    }
    const q8 = quantizedType('q8_0')!;
    const type = reencode === 'q8_0' && lastDim(t) % q8.blockElements === 0 ? q8 : reencode === 'f32' ? PLAIN.F32! : PLAIN.F16!;
    out.push({ t, type, bytes: sizeOf(type, t.elements), reencoded: why });
  }
  if (refused.length > 0) {
    const shown = refused.slice(0, 8).join('\n  ');
    const more = refused.length > 8 ? `\n  … and ${refused.length - 8} more` : '';
    const hint = reencode === undefined ? `\nRe-encode them with --reencode f16|f32|q8_0 (dequantized, then written in that type), or quantize with a format that has a GGUF type (${FORMAT_FAMILIES.filter((x) => x.gguf).flatMap((x) => x.methods).join(', ')}).` : '';
    throw new ExportError(`${refused.length} tensor(s) have no GGUF form:\n  ${shown}${more}${hint}`, refused);
  }
  return out;
}

/** The form's bytes: the stored rows, or the values re-encoded. */
export async function formBytes(f: QuantizedFile, p: TensorForm): Promise<Uint8Array> {
  if (p.reencoded === undefined && !p.widened) {
    const rows = await f.chunks(p.t);
    return Buffer.concat(rows.map((r) => r.codes));
  }
  return encodeFloats(await floatValues(f, p.t), p.type, lastDim(p.t));
}

/** Float values in a plain float type or Q8_0. */
export async function encodeFloats(values: Float32Array, type: GgufType, cols: number): Promise<Uint8Array> {
  if (type === PLAIN.F32) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (type === PLAIN.F16) {
    const out = Buffer.alloc(values.length * 2);
    for (let i = 0; i < values.length; i++) out.writeUInt16LE(f32ToF16Bits(values[i]!), 2 * i);
    return out;
  }
  if (type.name !== 'Q8_0') throw new ExportError(`internal: cannot encode floats as ${type.name}`);
  const q = await quantize(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 'F32', values.length / cols, cols, { name: 'q8_0' });
  return q.codes;
}

/**
 * A kept float tensor (F16/BF16/F32) widened to F32, as llama.cpp's converters write norms and
 * biases. Undefined for any other form (quantized tensors stay as they are).
 */
export function widenedToF32(p: TensorForm): TensorForm | undefined {
  if (p.t.method !== 'keep' || !['keep_F16', 'keep_BF16', 'keep_F32'].includes(p.t.scheme)) return undefined;
  return p.t.scheme === 'keep_F32' ? p : { ...p, type: PLAIN.F32!, bytes: 4 * p.t.elements, widened: true };
}

/** Rows `order[i]` of `bytes` (a row-major tensor of `rows` equal rows) as row i. */
export function permuteRows(bytes: Uint8Array, rows: number, order: readonly number[]): Uint8Array {
  if (order.length !== rows || bytes.length % rows !== 0) throw new ExportError(`internal: a permutation of ${order.length} rows applied to ${rows} rows of ${bytes.length} bytes`);
  const w = bytes.length / rows;
  const out = new Uint8Array(bytes.length);
  order.forEach((src, i) => out.set(bytes.subarray(src * w, (src + 1) * w), i * w));
  return out;
}

/** Tensors joined along their first axis (their bytes one after another: rows are self-contained). */
export function concatRows(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}
