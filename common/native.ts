/**
 * The native kernels, typed, with errors mapped to ArrowQuant's classes. The addon is located by
 * napi-rs's generated loader (`native/index.cjs`): a local build next to it, else the
 * per-platform package `@arrowquant/native-<platform>`.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type * as Addon from '../native/index.cjs';
import { ArrowQuantError, fromNative } from './errors.js';

export type {
  ChunkPayloadJs,
  ChunkRowJs,
  CpuFeatures,
  FallbackStepJs,
  FormatDescriptionJs,
  FormatFamilyJs,
  FormatSpec,
  IndexRowJs,
  KernelOptions,
  LayerOutputFigures,
  QualityFigures,
  QuantizeResult,
  SmoothingChoiceJs,
  TimeGroupJs,
  WriteSummaryJs,
} from '../native/index.cjs';

/** The package root: the nearest directory above this file holding package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new ArrowQuantError('cannot find the arrowquant package root');
    dir = parent;
  }
  return dir;
}

/**
 * The platform packages published beside `arrowquant` (npm/<platform>/, scripts/pack-native.sh),
 * by napi-rs's platform names. darwin ones are built on macOS.
 */
const PLATFORM_PACKAGES: Record<string, string> = {
  'linux-x64': '@arrowquant/native-linux-x64-gnu',
  'linux-arm64': '@arrowquant/native-linux-arm64-gnu',
  'darwin-x64': '@arrowquant/native-darwin-x64',
  'darwin-arm64': '@arrowquant/native-darwin-arm64',
};

/** What to do when the addon does not load, for this platform. */
export function missingAddonAdvice(platform: string = process.platform, arch: string = process.arch): string {
  const pkg = PLATFORM_PACKAGES[`${platform}-${arch}`];
  if (pkg === undefined) {
    return `no prebuilt package exists for ${platform}-${arch} (there are: ${Object.values(PLATFORM_PACKAGES).join(', ')}); build from source with Rust: \`npm run build\``;
  }
  return `install ${pkg} (\`npm install arrowquant\` does, unless optional dependencies were omitted), or build from source with Rust: \`npm run build\``;
}

function load(): typeof Addon {
  const loader = join(packageRoot(), 'native', 'index.cjs');
  // The addon's allocator (mimalloc 3) returns freed memory to the OS 1000 ms after it is freed
  // by default, and the pipeline frees a multi-MiB chunk buffer every few milliseconds: on a
  // 1.44 GB model in streaming mode the process peaked at ~445 MB RSS for ~170 MB of live native
  // memory. 10 ms (mimalloc 2's default) still lets a freed buffer be reused by the next chunk
  // and brings the peak to ~345 MB at the same CPU time (benches/RESULTS.md, "Streaming
  // memory"). mimalloc reads the variable when the addon loads; a user's own setting wins.
  process.env.MIMALLOC_PURGE_DELAY ??= '10';
  try {
    return createRequire(import.meta.url)(loader) as typeof Addon;
  } catch (cause) {
    throw new ArrowQuantError(`cannot load the native kernels for ${process.platform}-${process.arch} (${loader}): ${missingAddonAdvice()}`, { cause });
  }
}

const addon = load();

export type Dtype = 'F32' | 'F16' | 'BF16';

export function cpuFeatures(): Addon.CpuFeatures {
  return addon.cpuFeatures();
}

/** What the native side holds now and at its peak (bytes), with its large allocations at the peak. */
export function nativeMemory(): Addon.NativeMemory {
  return addon.nativeMemory();
}

export function resetNativePeak(): void {
  addon.resetNativePeak();
}

/** The kernels' format registry (see common/formats.ts, which is what callers use). */
export function formatRegistry(): Addon.FormatFamilyJs[] {
  return addon.formatRegistry();
}

/** The concrete format a spec names; throws the kernels' error for an unknown or bad one. */
export function describeFormat(spec: Addon.FormatSpec): Addon.FormatDescriptionJs {
  return addon.describeFormat(spec);
}

/**
 * Quantize a row-major `[rows, cols]` tensor given as raw little-endian bytes. The bytes are
 * borrowed, not copied: do not modify them until the promise settles.
 */
export async function quantize(
  input: Uint8Array,
  dtype: Dtype,
  rows: number,
  cols: number,
  format: Addon.FormatSpec,
  options?: Addon.KernelOptions,
): Promise<Addon.QuantizeResult> {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  try {
    return await addon.quantize(buf, dtype, rows, cols, format, options);
  } catch (err) {
    throw fromNative(err);
  }
}

export async function dequantize(
  format: Addon.FormatSpec,
  rows: number,
  cols: number,
  codes: Uint8Array,
  scales: Float32Array,
  zeros: Uint8Array,
): Promise<Float32Array> {
  const asBuf = (b: Uint8Array) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  try {
    return await addon.dequantize(format, rows, cols, asBuf(codes), scales, asBuf(zeros));
  } catch (err) {
    throw fromNative(err);
  }
}

/** Quality of `recon` as a reconstruction of the raw source bytes (used by `verify`). */
export async function compareQuality(
  input: Uint8Array,
  dtype: Dtype,
  cols: number,
  recon: Float32Array,
  options?: Addon.KernelOptions,
): Promise<Addon.QualityFigures> {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  try {
    return await addon.compareQuality(buf, dtype, cols, recon, options);
  } catch (err) {
    throw fromNative(err);
  }
}

/** The Parquet writer and reader, and model-file reads held in Rust, as the addon exports them. */
export const ParquetSink = addon.ParquetSink;
export type ParquetSink = Addon.ParquetSink;
export const ParquetSource = addon.ParquetSource;
export type ParquetSource = Addon.ParquetSource;
export const SourceFile = addon.SourceFile;
export type SourceFile = Addon.SourceFile;
export type SourceChunk = Addon.SourceChunk;
/** `SourceChunk.fromBytes(buffer)`: a chunk that arrived over the wire (a worker's). */
export const SourceChunk = addon.SourceChunk;
export type QuantizedChunk = Addon.QuantizedChunk;
/** A calibrated layer (Hessian factored once, smoothing factors) shared by its chunks. */
export const LayerCalibration = addon.LayerCalibration;
export type LayerCalibration = Addon.LayerCalibration;
/**
 * A layer's `[cols, cols]` f32 Hessian where it lives: `Hessian.inFile(file, offset, cols)` (a
 * calibration file's tensor, read a block of rows at a time by the kernels, never whole) or
 * `Hessian.held(chunk, cols)` (bytes a worker received).
 */
export const Hessian = addon.Hessian;
export type Hessian = Addon.Hessian;
/** The diagonal of a layer's Hessian: per-column importance (only `cols` values are read). */
export function hessianDiagonal(hessian: Addon.Hessian): Float32Array {
  try {
    return addon.hessianDiagonal(hessian);
  } catch (err) {
    throw fromNative(err);
  }
}
/** Spatial-smoothing α search over one pass of a tensor's chunks. */
export const SmoothingSearch = addon.SmoothingSearch;
export type SmoothingSearch = Addon.SmoothingSearch;

/**
 * Quantize a chunk read by `SourceFile.read`; the bytes never enter JS and the result stays in
 * Rust until `ParquetSink.pushQuantized` takes it.
 */
export async function quantizeChunk(
  chunk: Addon.SourceChunk,
  dtype: Dtype,
  rows: number,
  cols: number,
  format: Addon.FormatSpec,
  options?: Addon.KernelOptions,
): Promise<Addon.QuantizedChunk> {
  try {
    return await addon.quantizeChunk(chunk, dtype, rows, cols, format, options);
  } catch (err) {
    throw fromNative(err);
  }
}

/** Bytes a scheme stores for `rows × cols` (codes + 4·scales + zero-points), from its layout. */
export function payloadSize(scheme: string, rows: number, cols: number): number {
  try {
    return addon.payloadSize({ name: scheme }, rows, cols).bytes;
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * GPTQ a `[rows, cols]` weight (raw little-endian `dtype` bytes) with its input Hessian
 * `[cols, cols]` onto an RTN grid; the result stays in Rust (`QuantizedChunk`) and decodes as
 * that RTN scheme.
 */
export async function gptqQuantize(
  weights: Uint8Array,
  dtype: Dtype,
  rows: number,
  cols: number,
  hessian: Float32Array,
  format: Addon.FormatSpec,
  options?: Addon.GptqOptionsJs,
): Promise<Addon.QuantizedChunk> {
  const buf = Buffer.isBuffer(weights) ? weights : Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength);
  try {
    return await addon.gptqQuantize(buf, dtype, rows, cols, hessian, format, options);
  } catch (err) {
    throw fromNative(err);
  }
}

/** Quantize a row chunk of a calibrated layer (GPTQ with its Hessian and/or smoothing); stays in Rust. */
export async function quantizeLayerChunk(
  chunk: Addon.SourceChunk,
  dtype: Dtype,
  rows: number,
  cols: number,
  format: Addon.FormatSpec,
  layer: Addon.LayerCalibration,
  options?: Addon.KernelOptions,
): Promise<Addon.QuantizedChunk> {
  try {
    return await addon.quantizeLayerChunkTask(chunk, dtype, rows, cols, format, layer, options);
  } catch (err) {
    throw fromNative(err);
  }
}
