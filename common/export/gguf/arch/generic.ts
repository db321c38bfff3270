/**
 * The generic layout (`--arch` absent or any name no architecture module claims): tensors under
 * their source names and types, `general.architecture` as given (default "arrowquant"), and
 * ArrowQuant's own keys. For GGUF readers in general (gguf-py, ComfyUI-GGUF's compatibility mode);
 * the runtimes' own layouts are the other modules here.
 */
import { basename } from 'node:path';

import type { QuantizedFile } from '../../../format/reader.js';
import { MIXES, MIX_FILE_TYPE, type Mix } from '../../../config/mixes.js';
import { formBytes, qualified } from '../tensors.js';
import { PLAIN, type GgufType } from '../types.js';
import { GGUF_ALIGNMENT, kv } from '../writer.js';
import type { GgufArchInput, GgufArchitecture, GgufPlan } from './architecture.js';

/** A file quantized with a K-quant mix declares the mix's `llama_ftype`, as llama-quantize does. */
export function mixFileType(f: QuantizedFile): number | undefined {
  try {
    const mix = (JSON.parse(f.metadata['arrowquant.config'] ?? '{}') as { mix?: unknown }).mix;
    return typeof mix === 'string' && (MIXES as readonly string[]).includes(mix) ? MIX_FILE_TYPE[mix as Mix] : undefined;
  } catch {
    return undefined;
  }
}

/** `general.file_type`: the mix's, else that of the most common quantized type. */
export function fileType(f: QuantizedFile, types: readonly { quantized: boolean; type: GgufType }[]): number {
  const counts = new Map<GgufType, number>();
  for (const t of types) if (t.quantized) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
  const common = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? PLAIN.F32!;
  return mixFileType(f) ?? common.fileType ?? 0;
}

export function genericArchitecture(name: string): GgufArchitecture {
  return {
    name,
    summary: 'source tensor names and types; general.architecture as given',
    needsModelDir: false,
    async plan(input: GgufArchInput): Promise<GgufPlan> {
      const f = input.file;
      const forms = await input.forms(input.tensors);
      const kvs = [
        kv.str('general.architecture', name),
        kv.str('general.name', `${basename(f.path).replace(/\.parquet$/, '')}${input.component ? `/${input.component}` : ''}`),
        kv.u32('general.quantization_version', 2),
        kv.u32('general.file_type', fileType(f, forms.map((p) => ({ quantized: p.t.method !== 'keep', type: p.type })))),
        kv.u32('general.alignment', GGUF_ALIGNMENT),
        kv.str('arrowquant.format_version', f.metadata['arrowquant.format_version'] ?? ''),
        kv.str('arrowquant.modality', f.metadata['arrowquant.modality'] ?? ''),
        ...(input.component ? [kv.str('arrowquant.component', input.component)] : []),
      ];
      return {
        kvs,
        tensors: forms.map((p) => ({ name: p.t.name, shape: p.t.shape, type: p.type, bytes: p.bytes, data: () => formBytes(f, p) })),
        reencoded: forms.filter((p) => p.reencoded !== undefined).map((p) => ({ tensor: qualified(p.t), from: p.t.scheme, to: p.type.name, why: p.reencoded! })),
        notes: [],
      };
    },
  };
}
