/**
 * safetensors headers, read and validated before any work: the header length is bounded, the
 * JSON is an object of tensors, every dtype is known, byte length = dtype size × shape, and the
 * data offsets tile the data region exactly (in bounds, no overlaps, no holes: the format's own
 * rule). Tensor bytes are read later, in bounded pieces, by `TensorReader`.
 */
import { open, type FileHandle } from 'node:fs/promises';

import { DTYPE_BYTES } from '../../common/format/dtypes.js';
import { ModelFormatError } from './errors.js';

/** Same bound as the reference implementation (huggingface/safetensors): 100 MB of JSON. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte offsets in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  fileBytes: number;
  /** 8 + header length: where tensor data starts. */
  dataStart: number;
  metadata: Record<string, string>;
  /** In data-offset order (the file's physical order). */
  tensors: TensorEntry[];
}

function isDim(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export async function readHeader(path: string): Promise<SafetensorsHeader> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (cause) {
    throw new ModelFormatError(path, `cannot open: ${(cause as Error).message}`, undefined, { cause });
  }
  try {
    const fileBytes = (await fh.stat()).size;
    const fail = (detail: string, tensor?: string): never => {
      throw new ModelFormatError(path, detail, tensor);
    };
    if (fileBytes < 8) fail(`file is ${fileBytes} bytes, shorter than the 8-byte header length (truncated?)`);
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    const n = Number(headerLen);
    if (8 + n > fileBytes) fail(`header length ${n} runs past the end of the ${fileBytes}-byte file (truncated?)`);
    const json = Buffer.alloc(n);
    await fh.read(json, 0, n, 8);
    let parsed: unknown;
    try {
      parsed = JSON.parse(json.toString('utf8'));
    } catch (cause) {
      throw new ModelFormatError(path, `header is not valid JSON: ${(cause as Error).message}`, undefined, { cause });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail('header is not a JSON object');
    const dataStart = 8 + n;
    const dataBytes = fileBytes - dataStart;
    const tensors: TensorEntry[] = [];
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(parsed as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('__metadata__ is not an object');
        metadata = Object.fromEntries(Object.entries(raw as object).map(([k, v]) => [k, String(v)]));
        continue;
      }
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
      if (e === null || typeof e !== 'object') fail('entry is not an object', name);
      const { dtype, shape, data_offsets: offsets } = e as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) fail(`unknown dtype ${JSON.stringify(dtype)}`, name);
      if (!Array.isArray(shape) || !shape.every(isDim)) fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isDim)) {
        fail(`data_offsets ${JSON.stringify(offsets)} is not [begin, end]`, name);
      }
      const [b, en] = offsets as [number, number];
      if (b > en) fail(`data_offsets [${b}, ${en}] end before they begin`, name);
      if (en > dataBytes) fail(`data_offsets [${b}, ${en}] run past the end of the data (${dataBytes} bytes; truncated file?)`, name);
      const want = elementCount(shape as number[]) * DTYPE_BYTES[dtype as string]!;
      if (en - b !== want) {
        fail(`byte length ${en - b} does not match dtype ${dtype as string} × shape [${(shape as number[]).join(', ')}] = ${want} bytes`, name);
      }
      tensors.push({ name, dtype: dtype as string, shape: shape as number[], begin: dataStart + b, end: dataStart + en });
    }
    tensors.sort((x, y) => x.begin - y.begin || x.end - y.end);
    let cursor = dataStart;
    for (const t of tensors) {
      if (t.begin < cursor) fail(`overlaps the previous tensor (data at ${t.begin - dataStart}, previous ends at ${cursor - dataStart})`, t.name);
      if (t.begin > cursor) fail(`a hole of ${t.begin - cursor} bytes precedes this tensor (offset ${t.begin - dataStart})`, t.name);
      cursor = t.end;
    }
    if (cursor !== fileBytes) fail(`tensor data ends at byte ${cursor} but the file has ${fileBytes} bytes (trailing bytes)`);
    return { path, fileBytes, dataStart, metadata, tensors };
  } finally {
    await fh.close();
  }
}
