/**
 * A streaming safetensors writer: the safetensors export (common/export/), the synthetic
 * calibration file (coordinator/calibration/) and the synthetic model generator (tools/synth/).
 *
 * Format: u64 little-endian header length N, N bytes of UTF-8 JSON
 * `{"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}, ...}`
 * (offsets relative to the first byte after the header), then the tensor bytes, contiguous and
 * in header order. The JSON is padded with spaces so the data starts 8-byte aligned.
 *
 * Memory stays bounded whatever the file size: float tensors are produced by a `fill` generator
 * one block of rows at a time (default 1 Mi values = 4 MiB of f32), encoded into a reused buffer
 * and written through a file handle while the next block is generated (two buffers alternate, one
 * write in flight). A row is the last dimension; rows = product of the leading dimensions.
 */
import { open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';

/** Bytes per element of every dtype the safetensors spec names. */
export const DTYPE_SIZE = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
} as const;
export type Dtype = keyof typeof DTYPE_SIZE;
/** Dtypes a `fill` generator can produce (it writes f32; the writer converts). */
export type FloatDtype = 'F64' | 'F32' | 'F16' | 'BF16';

/**
 * Writes values for rows [rowStart, rowStart + rowCount) into `out`, whose length is exactly
 * rowCount × rowLength (rowLength = last dimension, 1 for a scalar).
 */
export type FillFn = (rowStart: number, rowCount: number, out: Float32Array) => void;

export interface FloatTensorSpec {
  name: string;
  dtype: FloatDtype;
  shape: readonly number[];
  fill: FillFn;
}
/** Any dtype given as its little-endian bytes (small buffers such as int64 position ids). */
export interface RawTensorSpec {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  data: Uint8Array;
}
export type TensorSpec = FloatTensorSpec | RawTensorSpec;

export interface TensorHeader {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}
/** Header JSON as ordered entries (object key order is not reliable for integer-like names). */
export type HeaderEntries = Array<[string, unknown]>;

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
/** Row length (last dimension) and row count of a shape; a scalar is one row of one value. */
export function rowsOf(shape: readonly number[]): { rows: number; cols: number } {
  const cols = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  return { rows: cols === 0 ? 0 : numel(shape) / cols, cols };
}
export const tensorBytes = (t: { dtype: Dtype; shape: readonly number[] }): number => numel(t.shape) * DTYPE_SIZE[t.dtype];

/**
 * The header entries and total data size for tensors laid out contiguously in the given order.
 * Validates names, dtypes, shapes and raw data lengths. `metadata` null omits `__metadata__`.
 */
export function planHeader(
  tensors: ReadonlyArray<{ name: string; dtype: string; shape: readonly number[]; data?: Uint8Array }>,
  metadata: Record<string, string> | null = { format: 'pt' },
): { entries: HeaderEntries; dataBytes: number } {
  const entries: HeaderEntries = [];
  if (metadata !== null) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new TypeError(`metadata ${k} must be a string`);
    entries.push(['__metadata__', metadata]);
  }
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '' || t.name === '__metadata__' || seen.has(t.name)) throw new RangeError(`bad or duplicate tensor name ${JSON.stringify(t.name)}`);
    seen.add(t.name);
    if (!(t.dtype in DTYPE_SIZE)) throw new RangeError(`${t.name}: unknown dtype ${t.dtype}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new RangeError(`${t.name}: bad shape [${t.shape.join(', ')}]`);
    const bytes = numel(t.shape) * DTYPE_SIZE[t.dtype as Dtype];
    if (t.data !== undefined && t.data.length !== bytes) throw new RangeError(`${t.name}: ${t.data.length} data bytes, shape needs ${bytes}`);
    entries.push([t.name, { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] } satisfies TensorHeader]);
    offset += bytes;
  }
  return { entries, dataBytes: offset };
}

export interface EncodeHeaderOptions {
  /** Pad so 8 + N is a multiple of this (default 8; 1 = no padding). */
  align?: number;
  /** Write this as the u64 length instead of the true N (to craft broken files). */
  declaredLength?: number | bigint;
}

/**
 * The first bytes of a safetensors file: u64 LE length, the JSON, space padding. Accepts ordered
 * entries or a plain object; any JSON value is accepted, so tests can encode broken headers.
 */
export function encodeHeader(header: HeaderEntries | Record<string, unknown>, options: EncodeHeaderOptions = {}): Uint8Array {
  const entries = Array.isArray(header) ? header : Object.entries(header);
  const json = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
  const body = Buffer.from(json, 'utf8');
  const align = options.align ?? 8;
  const pad = (align - ((8 + body.length) % align)) % align;
  const out = new Uint8Array(8 + body.length + pad);
  new DataView(out.buffer).setBigUint64(0, BigInt(options.declaredLength ?? body.length + pad), true);
  out.set(body, 8);
  out.fill(0x20, 8 + body.length);
  return out;
}

// f32 ↔ f16/bf16 conversion lives in common/half.ts (the pipeline uses it too).
export { bf16BitsToF32, f16BitsToF32, f32BitsToBf16Bits, f32BitsToF16Bits, f32ToBf16Bits, f32ToF16Bits } from '../half.js';
import { f32BitsToBf16Bits, f32BitsToF16Bits } from '../half.js';

// ---- writing ---------------------------------------------------------------------------------

export interface WriteOptions {
  /** Values per generated block (default 1 Mi). A block is at least one row. */
  blockValues?: number;
  /** Called after every block with the bytes of this file written so far. */
  onProgress?: (bytesWritten: number) => void;
}

export interface WriteResult {
  path: string;
  /** File size: 8 + header + data. */
  bytes: number;
  headerBytes: number;
  dataBytes: number;
  /** Float values generated by `fill`. */
  values: number;
  /** Time spent inside fill, in conversion, and waiting for the disk. */
  fillMs: number;
  encodeMs: number;
  ioWaitMs: number;
}

/** Sequential positioned writes with at most one in flight: the caller may reuse a buffer once the write after it has been issued. */
class PipelinedWriter {
  private pending: Promise<void> = Promise.resolve();
  position = 0;
  ioWaitMs = 0;
  constructor(private readonly fh: FileHandle) {}
  async write(bytes: Uint8Array): Promise<void> {
    const t = performance.now();
    await this.pending;
    this.ioWaitMs += performance.now() - t;
    const at = this.position;
    this.position += bytes.length;
    this.pending = this.writeAll(bytes, at);
    this.pending.catch(() => {}); // surfaced by the next await
  }
  private async writeAll(bytes: Uint8Array, at: number): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.fh.write(bytes, done, bytes.length - done, at + done);
      if (bytesWritten <= 0) throw new Error('short write');
      done += bytesWritten;
    }
  }
  async flush(): Promise<void> {
    const t = performance.now();
    await this.pending;
    this.ioWaitMs += performance.now() - t;
  }
}

/**
 * Write a safetensors file: tensors in the given order, `metadata` as `__metadata__` (default
 * `{format: "pt"}`, null to omit). Written to `<path>.partial` and renamed, so a crash never
 * leaves a plausible-looking truncated file.
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorSpec[],
  metadata: Record<string, string> | null = { format: 'pt' },
  options: WriteOptions = {},
): Promise<WriteResult> {
  if (endianness() !== 'LE') throw new Error('safetensors is little-endian; this writer uses host-order typed arrays');
  for (const t of tensors) {
    if ('fill' in t && !(t.dtype === 'F64' || t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16')) {
      throw new RangeError(`${t.name}: a fill generator can only produce F64/F32/F16/BF16, not ${t.dtype}`);
    }
  }
  const plan = planHeader(tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: 'data' in t ? t.data : undefined })), metadata);
  const header = encodeHeader(plan.entries);

  // Capacity: one block, grown to one row if a row is longer than a block.
  const blockValues = Math.max(1, Math.floor(options.blockValues ?? 1 << 20));
  let capacity = 0;
  for (const t of tensors) if ('fill' in t) capacity = Math.max(capacity, Math.min(numel(t.shape), Math.max(blockValues, rowsOf(t.shape).cols)));
  // `scratch` receives fill output that gets converted; F32 output alternates between two
  // buffers of its own, since the one just handed to the writer may still be in flight.
  const scratch = new Float32Array(capacity);
  let single: Float32Array[] | undefined;
  let half: Uint16Array[] | undefined;
  let wide: Float64Array[] | undefined;

  const result: WriteResult = { path, bytes: header.length + plan.dataBytes, headerBytes: header.length, dataBytes: plan.dataBytes, values: 0, fillMs: 0, encodeMs: 0, ioWaitMs: 0 };
  const tmp = `${path}.partial`;
  const fh = await open(tmp, 'w');
  const out = new PipelinedWriter(fh);
  let ok = false;
  try {
    await out.write(header);
    let flip = 0;
    for (const t of tensors) {
      if (!('fill' in t)) {
        await out.write(t.data);
        continue;
      }
      const { rows, cols } = rowsOf(t.shape);
      const rowsPerBlock = Math.max(1, Math.floor(blockValues / Math.max(1, cols)));
      for (let r = 0; r < rows; r += rowsPerBlock) {
        const n = Math.min(rowsPerBlock, rows - r) * cols;
        flip ^= 1;
        let buf: Float32Array = scratch;
        if (t.dtype === 'F32') {
          single ??= [new Float32Array(capacity), new Float32Array(capacity)];
          buf = single[flip]!;
        }
        const view = buf.subarray(0, n);
        let t0 = performance.now();
        t.fill(r, n / cols, view);
        result.fillMs += performance.now() - t0;
        result.values += n;
        t0 = performance.now();
        let bytes: Uint8Array;
        if (t.dtype === 'F32') {
          bytes = new Uint8Array(view.buffer, 0, n * 4);
        } else if (t.dtype === 'F64') {
          wide ??= [new Float64Array(capacity), new Float64Array(capacity)];
          const w = wide[flip]!;
          for (let i = 0; i < n; i++) w[i] = view[i]!;
          bytes = new Uint8Array(w.buffer, 0, n * 8);
        } else {
          half ??= [new Uint16Array(capacity), new Uint16Array(capacity)];
          const h = half[flip]!;
          const bits = new Uint32Array(view.buffer, 0, n);
          if (t.dtype === 'BF16') {
            for (let i = 0; i < n; i++) {
              const b = bits[i]!;
              h[i] = (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
            }
          } else {
            for (let i = 0; i < n; i++) h[i] = f32BitsToF16Bits(bits[i]!);
          }
          bytes = new Uint8Array(h.buffer, 0, n * 2);
        }
        result.encodeMs += performance.now() - t0;
        await out.write(bytes);
        options.onProgress?.(out.position);
      }
    }
    await out.flush();
    ok = true;
  } finally {
    if (!ok) await out.flush().catch(() => {});
    await fh.close();
    if (!ok) await rm(tmp, { force: true });
  }
  if (out.position !== result.bytes) throw new Error(`wrote ${out.position} bytes, expected ${result.bytes}`);
  await rename(tmp, path);
  result.ioWaitMs = out.ioWaitMs;
  return result;
}
