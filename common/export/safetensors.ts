/**
 * Safetensors export (`arrowquant export FILE --to safetensors -o DIR`): every tensor
 * dequantized back to its source dtype under its original name and shape, for tools that load
 * plain safetensors (the `safetensors` package, diffusers, transformers). Kept tensors are
 * written byte for byte. A diffusers pipeline becomes one folder per component, each file named
 * as its source was (`transformer/diffusion_pytorch_model.safetensors`, …); a plain model one
 * `model.safetensors` (shards are merged). Tensors are dequantized one at a time.
 */
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import type { QuantizedFile, TensorInfo } from '../format/reader.js';
import { DTYPE_BYTES } from '../format/dtypes.js';
import { f32ToBf16Bits, f32ToF16Bits } from '../half.js';
import { encodeHeader, planHeader } from '../safetensors/writer.js';
import { AtomicFile } from './atomic-file.js';
import { ExportError } from './errors.js';
import { componentsOf, floatValues, selectTensors } from './select.js';

export interface SafetensorsExportResult {
  files: { path: string; tensors: number; bytes: number }[];
}

/** The dtype a tensor is written in: kept ones as stored, quantized ones as their source. */
function dtypeOf(t: TensorInfo): string {
  return t.method === 'keep' ? t.scheme.replace(/^keep_/, '') : t.sourceDtype;
}

async function bytesOf(f: QuantizedFile, t: TensorInfo): Promise<Uint8Array> {
  if (t.method === 'keep') return Buffer.concat((await f.chunks(t)).map((r) => r.codes));
  const v = await floatValues(f, t);
  const dtype = t.sourceDtype;
  if (dtype === 'F32') return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (dtype === 'F64') return new Uint8Array(Float64Array.from(v).buffer);
  const out = Buffer.alloc(v.length * 2);
  const conv = dtype === 'F16' ? f32ToF16Bits : dtype === 'BF16' ? f32ToBf16Bits : undefined;
  if (!conv) throw new ExportError(`tensor "${t.name}" was quantized from ${dtype}, which has no float form to write back`, [t.name]);
  for (let i = 0; i < v.length; i++) out.writeUInt16LE(conv(v[i]!), 2 * i);
  return out;
}

async function writeFile(f: QuantizedFile, path: string, tensors: TensorInfo[]): Promise<{ path: string; tensors: number; bytes: number }> {
  const plan = planHeader(
    tensors.map((t) => ({ name: t.name, dtype: dtypeOf(t), shape: t.shape })),
    { format: 'pt', source: `dequantized by arrowquant from ${basename(f.path)}` },
  );
  await mkdir(dirname(path), { recursive: true });
  const out = await AtomicFile.create(path);
  try {
    await out.write(encodeHeader(plan.entries));
    for (const t of tensors) {
      const data = await bytesOf(f, t);
      const want = t.elements * DTYPE_BYTES[dtypeOf(t)]!;
      if (data.length !== want) throw new ExportError(`internal: tensor "${t.name}" has ${data.length} bytes, needs ${want}`, [t.name]);
      await out.write(data);
    }
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return { path, tensors: tensors.length, bytes: out.bytes };
}

export async function exportSafetensors(f: QuantizedFile, outDir: string, opts: { component?: string } = {}): Promise<SafetensorsExportResult> {
  const sources = JSON.parse(f.metadata['arrowquant.sources'] ?? '[]') as { file: string }[];
  const components = opts.component !== undefined ? [opts.component] : componentsOf(f);
  const files = [];
  if (components.length === 0) {
    files.push(await writeFile(f, join(outDir, 'model.safetensors'), selectTensors(f, undefined)));
    return { files };
  }
  for (const c of components) {
    // The component's source file name when it had exactly one, else model.safetensors.
    const own = sources.map((s) => s.file).filter((s) => s.startsWith(`${c}/`) && !s.slice(c.length + 1).includes('/'));
    const name = own.length === 1 ? basename(own[0]!) : 'model.safetensors';
    files.push(await writeFile(f, join(outDir, c, name), selectTensors(f, c)));
  }
  return { files };
}
