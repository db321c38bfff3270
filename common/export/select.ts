/** Which tensors of a file an export writes: one diffusers component, or the whole plain model. */
import type { QuantizedFile, TensorInfo } from '../format/reader.js';
import { ExportError } from './errors.js';

export function componentsOf(f: QuantizedFile): string[] {
  return [...new Set(f.tensors.map((t) => t.component).filter((c): c is string => c !== undefined))];
}

export function selectTensors(f: QuantizedFile, component: string | undefined): TensorInfo[] {
  const components = componentsOf(f);
  if (component === undefined) {
    if (components.length > 1) throw new ExportError(`${f.path} is a pipeline of ${components.length} components (${components.join(', ')}): choose one with --component`);
    return f.tensors;
  }
  if (!components.includes(component)) {
    throw new ExportError(`${f.path} has no component "${component}"${components.length ? ` (it has ${components.join(', ')})` : ' (it is not a pipeline)'}`);
  }
  return f.tensors.filter((t) => t.component === component);
}

/** The tensor's values as float32, as readers return them (smoothing factors divided out). */
export async function floatValues(f: QuantizedFile, t: TensorInfo): Promise<Float32Array> {
  const v = await f.dequantize(t);
  if (v instanceof Float32Array) return v;
  if (v instanceof Float64Array) return Float32Array.from(v);
  throw new ExportError(`tensor "${t.name}" (${t.scheme}) holds ${t.sourceDtype} values, not floats`, [t.name]);
}
