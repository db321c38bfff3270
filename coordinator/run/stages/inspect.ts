/**
 * Stage 1, read: the model's layout and every safetensors header, checked before any work (tensor
 * names unique across files, the output path not one of the inputs), and the modality, detected
 * from the model's configs unless the configuration names it.
 */
import { realpath } from 'node:fs/promises';
import { relative, resolve } from 'node:path';

import type { Modality, ResolvedConfig } from '../../../common/config/index.js';
import { checkTensorNames, discoverModel, type ModelFile, type ModelLayout } from '../../model/discover.js';
import { detectModality } from '../../model/modality.js';
import { readHeader, type SafetensorsHeader } from '../../model/safetensors.js';
import { OutputPathError } from '../errors.js';
import type { JobEvent } from '../events.js';

export interface ModelHeader {
  file: ModelFile;
  header: SafetensorsHeader;
}

export interface InspectedModel {
  layout: ModelLayout;
  /** In file order. */
  headers: ModelHeader[];
  modality: Modality;
  modalityReason: string;
  /** False when the configuration set the modality. */
  detected: boolean;
}

async function checkOutput(outputPath: string, inputs: string[]): Promise<void> {
  const out = await realpath(outputPath).catch(() => resolve(outputPath));
  for (const input of inputs) {
    if ((await realpath(input)) === out) throw new OutputPathError(outputPath, 'is one of the model\'s input files; choose another output path');
  }
}

export async function inspectModel(modelPath: string, outputPath: string, config: ResolvedConfig): Promise<InspectedModel> {
  const layout = await discoverModel(modelPath);
  const headers: ModelHeader[] = [];
  for (const file of layout.files) headers.push({ file, header: await readHeader(file.path) });
  checkTensorNames(layout, headers.map((h) => ({ file: h.file, names: new Set(h.header.tensors.map((t) => t.name)) })));
  await checkOutput(outputPath, layout.files.map((f) => f.path));
  const found = detectModality(layout.configs.map((c) => ({ file: relative(layout.root, c.file) || c.file, json: c.json })));
  const detected = !config.modality;
  return {
    layout,
    headers,
    modality: config.modality ?? found.modality,
    modalityReason: detected ? found.reason : 'set by configuration',
    detected,
  };
}

export function modalityEvent(m: InspectedModel): JobEvent {
  return { type: 'modality', modality: m.modality, reason: m.modalityReason, detected: m.detected };
}
