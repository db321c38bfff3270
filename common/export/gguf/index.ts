/**
 * GGUF export (`arrowquant export FILE --to gguf`): the file llama.cpp's gguf library, the
 * runtimes (llama.cpp, stable-diffusion.cpp, ComfyUI-GGUF) and gguf-py read. The architecture
 * (arch/) plans names, tensors and metadata; tensors.ts turns stored tensors into GGUF bytes;
 * writer.ts writes the container. Time-aware activation parameters have no GGUF form and are not
 * carried (the result counts them).
 */
import { existsSync, statSync } from 'node:fs';

import type { QuantizedFile } from '../../format/reader.js';
import { ExportError } from '../errors.js';
import { selectTensors } from '../select.js';
import { architecture } from './arch/index.js';
import { tensorForms, type Reencoding } from './tensors.js';
import { writeGguf } from './writer.js';

export { GGUF_ALIGNMENT } from './writer.js';
export { REENCODINGS, type Reencoding } from './tensors.js';
export { knownArchitectures } from './arch/index.js';

export interface GgufExportOptions {
  component?: string;
  reencode?: Reencoding;
  /** A runtime layout (arch/index.ts), or any other `general.architecture` for the generic one (default "arrowquant"). */
  arch?: string;
  /** The model folder the file was quantized from: config.json and tokenizer files for the LLM layouts. */
  modelDir?: string;
  /** llama.cpp's pre-tokenizer name, where the tokenizer's cannot be told. */
  tokenizerPre?: string;
}

export interface GgufExportResult {
  path: string;
  bytes: number;
  tensors: number;
  reencoded: { tensor: string; from: string; to: string; why: string }[];
  notes: string[];
  /** Tensors whose time-aware activation parameters were not carried (GGUF has no place for them). */
  droppedTimeGroups: number;
}

export async function exportGguf(f: QuantizedFile, outPath: string, opts: GgufExportOptions = {}): Promise<GgufExportResult> {
  const arch = architecture(opts.arch);
  if (arch.needsModelDir) {
    if (opts.modelDir === undefined) throw new ExportError(`--arch ${arch.name} needs the model folder the file was quantized from (--model DIR): its config.json and tokenizer files`);
    if (!existsSync(opts.modelDir) || !statSync(opts.modelDir).isDirectory()) throw new ExportError(`--model ${opts.modelDir}: not a directory`);
  }
  const tensors = arch.select ? arch.select(f, opts.component) : selectTensors(f, opts.component);
  const plan = await arch.plan({
    file: f,
    tensors,
    ...(opts.component !== undefined ? { component: opts.component } : {}),
    ...(opts.modelDir !== undefined ? { modelDir: opts.modelDir } : {}),
    ...(opts.reencode !== undefined ? { reencode: opts.reencode } : {}),
    ...(opts.tokenizerPre !== undefined ? { tokenizerPre: opts.tokenizerPre } : {}),
    forms: (ts) => tensorForms(f, ts, opts.reencode),
  });
  const bytes = await writeGguf(outPath, plan.kvs, plan.tensors);
  let dropped = 0;
  for (const t of tensors) if (t.method !== 'keep' && (await f.activationParams(t, 0).catch(() => 'present')) !== undefined) dropped++;
  return { path: outPath, bytes, tensors: plan.tensors.length, reencoded: plan.reencoded, notes: plan.notes, droppedTimeGroups: dropped };
}
