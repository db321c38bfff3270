/** A one-file model as the planner sees it, from `[name, dtype, shape]` triples (no file is read). */
import type { ModelFile } from '../../coordinator/model/discover.js';
import type { SafetensorsHeader } from '../../coordinator/model/safetensors.js';

const BYTES: Record<string, number> = { F32: 4, BF16: 2, F16: 2, I64: 8 };

export function fakeModel(tensors: readonly (readonly [string, string, number[]])[]): { file: ModelFile; header: SafetensorsHeader } {
  let offset = 8;
  const header: SafetensorsHeader = {
    path: 'm.safetensors',
    fileBytes: 0,
    dataStart: 8,
    metadata: {},
    tensors: tensors.map(([name, dtype, shape]) => {
      const n = shape.reduce((a, b) => a * b, 1) * BYTES[dtype]!;
      const t = { name, dtype, shape, begin: offset, end: offset + n };
      offset += n;
      return t;
    }),
  };
  return { file: { path: 'm.safetensors', rel: 'm.safetensors' }, header };
}
