/**
 * GGUF export (`arrowquant export FILE --to gguf`): the file llama.cpp's gguf library and the
 * GGUF loaders for diffusion models read.
 *
 * GGUF v3 layout: magic "GGUF", u32 version 3, u64 tensor count, u64 metadata count; metadata
 * key/value pairs (key: u64 length + UTF-8; u32 value type; value); per tensor: name, u32 n_dims,
 * u64 dims innermost first (ggml's ne[0] is numpy's last axis), u32 ggml type, u64 offset into
 * the data section; zero padding to `general.alignment` (32); the data, each tensor padded to
 * the alignment.
 *
 * What is written byte for byte: tensors of every format whose registry entry names a GGUF type
 * (common/formats.ts; `q4_0`, `q8_0`, ...: ArrowQuant's blocks *are* GGUF's, and the rows of a
 * tensor whose last axis is a multiple of the block are ggml rows of whole blocks) and kept
 * F32/F16/BF16/F64/I8/I16/I32/I64 tensors. Anything else (other schemes, smoothed tensors whose
 * codes encode W·diag(s), block rows that are not ggml rows, unsigned and bool tensors) has no
 * GGUF form: the export refuses it and names the tensors, unless `reencode` says what to write
 * instead (`f16`, `f32`, or `q8_0` where the row allows it), and the result lists what was
 * re-encoded. Time-aware activation parameters have no GGUF form and are not carried.
 */
import { basename } from 'node:path';

import type { QuantizedFile, TensorInfo } from '../format/reader.js';
import { f32ToF16Bits } from '../half.js';
import { quantize } from '../native.js';
import { FORMAT_FAMILIES, describeFormat } from '../formats.js';
import { MIXES, MIX_FILE_TYPE, type Mix } from '../config/mixes.js';
import { AtomicFile } from './atomic-file.js';
import { ExportError } from './errors.js';
import { floatValues, selectTensors } from './select.js';

export const GGUF_ALIGNMENT = 32;
export const REENCODINGS = ['f16', 'f32', 'q8_0'] as const;
export type Reencoding = (typeof REENCODINGS)[number];

/** A GGUF tensor type: ggml's name and `ggml_type` id, and the bytes of `elements` values. */
interface GgufType {
  name: string;
  id: number;
  /** Values per block (1 for plain dtypes) and bytes per block. */
  blockElements: number;
  blockBytes: number;
  /** `llama_ftype` of a file mostly of this type (`general.file_type`). */
  fileType?: number;
}

/** Plain dtypes (ggml.h's `ggml_type` values), keyed by safetensors dtype. */
const PLAIN: Record<string, GgufType> = {
  F32: { name: 'F32', id: 0, blockElements: 1, blockBytes: 4, fileType: 0 },
  F16: { name: 'F16', id: 1, blockElements: 1, blockBytes: 2, fileType: 1 },
  BF16: { name: 'BF16', id: 30, blockElements: 1, blockBytes: 2, fileType: 32 },
  F64: { name: 'F64', id: 28, blockElements: 1, blockBytes: 8 },
  I8: { name: 'I8', id: 24, blockElements: 1, blockBytes: 1 },
  I16: { name: 'I16', id: 25, blockElements: 1, blockBytes: 2 },
  I32: { name: 'I32', id: 26, blockElements: 1, blockBytes: 4 },
  I64: { name: 'I64', id: 27, blockElements: 1, blockBytes: 8 },
};

const quantizedTypes = new Map<string, GgufType | undefined>();

/** The GGUF type of an ArrowQuant scheme, from the format registry (undefined: none). One object per scheme. */
function quantizedType(scheme: string): GgufType | undefined {
  if (!quantizedTypes.has(scheme)) quantizedTypes.set(scheme, lookUp(scheme));
  return quantizedTypes.get(scheme);
}

function lookUp(scheme: string): GgufType | undefined {
  let gguf;
  try {
    gguf = describeFormat(scheme).gguf;
  } catch {
    return undefined;
  }
  const family = FORMAT_FAMILIES.find((f) => f.gguf?.typeId === gguf?.typeId);
  if (gguf == null || family?.blockBytes == null) return undefined;
  return { name: gguf.name, id: gguf.typeId, blockElements: family.groupSizes[0]!, blockBytes: family.blockBytes, fileType: gguf.fileType };
}

const sizeOf = (type: GgufType, elements: number): number => (elements / type.blockElements) * type.blockBytes;

/** A file quantized with a K-quant mix declares the mix's `llama_ftype`, as llama-quantize does. */
function mixFileType(f: QuantizedFile): number | undefined {
  try {
    const mix = (JSON.parse(f.metadata['arrowquant.config'] ?? '{}') as { mix?: unknown }).mix;
    return typeof mix === 'string' && (MIXES as readonly string[]).includes(mix) ? MIX_FILE_TYPE[mix as Mix] : undefined;
  } catch {
    return undefined;
  }
}

export interface GgufExportOptions {
  component?: string;
  reencode?: Reencoding;
  /** `general.architecture` (default "arrowquant"). */
  arch?: string;
}

interface Planned {
  t: TensorInfo;
  type: GgufType;
  bytes: number;
  /** Why it is re-encoded (undefined: written byte for byte). */
  reencoded?: string;
}

export interface GgufExportResult {
  path: string;
  bytes: number;
  tensors: number;
  reencoded: { tensor: string; from: string; to: string; why: string }[];
  /** Tensors whose time-aware activation parameters were not carried (GGUF has no place for them). */
  droppedTimeGroups: number;
}

const lastDim = (t: TensorInfo) => (t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1]!);
const qualified = (t: TensorInfo) => (t.component !== undefined ? `${t.component}/${t.name}` : t.name);

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

async function plan(f: QuantizedFile, tensors: TensorInfo[], reencode: Reencoding | undefined): Promise<Planned[]> {
  const out: Planned[] = [];
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
    const hint = reencode === undefined ? `\nRe-encode them with --reencode f16|f32|q8_0 (dequantized, then written in that type), or quantize with a format that has a GGUF type (${FORMAT_FAMILIES.filter((f) => f.gguf).flatMap((f) => f.methods).join(', ')}).` : '';
    throw new ExportError(`${refused.length} tensor(s) have no GGUF form:\n  ${shown}${more}${hint}`, refused);
  }
  return out;
}

/** A little-endian byte builder for the header. */
class Bytes {
  private parts: Buffer[] = [];
  length = 0;
  private push(b: Buffer) {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  zeros(n: number) {
    this.push(Buffer.alloc(n));
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const VALUE = { UINT32: 4, STRING: 8 } as const;
const pad = (n: number) => (GGUF_ALIGNMENT - (n % GGUF_ALIGNMENT)) % GGUF_ALIGNMENT;

async function tensorBytes(f: QuantizedFile, p: Planned): Promise<Uint8Array> {
  if (p.reencoded === undefined) {
    const rows = await f.chunks(p.t);
    return Buffer.concat(rows.map((r) => r.codes));
  }
  const values = await floatValues(f, p.t);
  if (p.type === PLAIN.F32) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (p.type === PLAIN.F16) {
    const out = Buffer.alloc(values.length * 2);
    for (let i = 0; i < values.length; i++) out.writeUInt16LE(f32ToF16Bits(values[i]!), 2 * i);
    return out;
  }
  const cols = lastDim(p.t);
  const q = await quantize(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 'F32', values.length / cols, cols, { name: 'q8_0' });
  return q.codes;
}

export async function exportGguf(f: QuantizedFile, outPath: string, opts: GgufExportOptions = {}): Promise<GgufExportResult> {
  const tensors = selectTensors(f, opts.component);
  const planned = await plan(f, tensors, opts.reencode);
  const counts = new Map<GgufType, number>();
  for (const p of planned) if (p.t.method !== 'keep') counts.set(p.type, (counts.get(p.type) ?? 0) + 1);
  const common = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? PLAIN.F32!;

  const meta: [string, number, string | number][] = [
    ['general.architecture', VALUE.STRING, opts.arch ?? 'arrowquant'],
    ['general.name', VALUE.STRING, `${basename(f.path).replace(/\.parquet$/, '')}${opts.component ? `/${opts.component}` : ''}`],
    ['general.quantization_version', VALUE.UINT32, 2],
    ['general.file_type', VALUE.UINT32, mixFileType(f) ?? common.fileType ?? 0],
    ['general.alignment', VALUE.UINT32, GGUF_ALIGNMENT],
    ['arrowquant.format_version', VALUE.STRING, f.metadata['arrowquant.format_version'] ?? ''],
    ['arrowquant.modality', VALUE.STRING, f.metadata['arrowquant.modality'] ?? ''],
  ];
  if (opts.component) meta.push(['arrowquant.component', VALUE.STRING, opts.component]);

  const h = new Bytes();
  h.u32(0x46554747); // "GGUF"
  h.u32(3);
  h.u64(planned.length);
  h.u64(meta.length);
  for (const [key, type, value] of meta) {
    h.str(key);
    h.u32(type);
    if (type === VALUE.STRING) h.str(String(value));
    else h.u32(Number(value));
  }
  let offset = 0;
  for (const p of planned) {
    h.str(p.t.name);
    const dims = p.t.shape.length === 0 ? [1] : [...p.t.shape].reverse();
    h.u32(dims.length);
    for (const d of dims) h.u64(d);
    h.u32(p.type.id);
    h.u64(offset);
    offset += p.bytes + pad(p.bytes);
  }
  h.zeros(pad(h.length));

  const out = await AtomicFile.create(outPath);
  try {
    await out.write(h.done());
    for (const p of planned) {
      const data = await tensorBytes(f, p);
      if (data.length !== p.bytes) throw new ExportError(`internal: tensor "${p.t.name}" has ${data.length} bytes, ${p.type.name} × ${p.t.elements} needs ${p.bytes}`);
      await out.write(data);
      await out.write(new Uint8Array(pad(p.bytes)));
    }
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  let dropped = 0;
  for (const p of planned) if (p.t.method !== 'keep' && (await f.activationParams(p.t, 0).catch(() => 'present')) !== undefined) dropped++;
  return {
    path: outPath,
    bytes: out.bytes,
    tensors: planned.length,
    reencoded: planned.filter((p) => p.reencoded !== undefined).map((p) => ({ tensor: qualified(p.t), from: p.t.scheme, to: p.type.name, why: p.reencoded! })),
    droppedTimeGroups: dropped,
  };
}
