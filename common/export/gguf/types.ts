/**
 * GGUF tensor types (ggml.h's `ggml_type`): the plain dtypes by safetensors name, and the block
 * formats of ArrowQuant's schemes from the format registry (`describeFormat(scheme).gguf`).
 */
import { FORMAT_FAMILIES, describeFormat } from '../../formats.js';

/** A GGUF tensor type: ggml's name and `ggml_type` id, and the bytes of `elements` values. */
export interface GgufType {
  name: string;
  id: number;
  /** Values per block (1 for plain dtypes) and bytes per block. */
  blockElements: number;
  blockBytes: number;
  /** `llama_ftype` of a file mostly of this type (`general.file_type`). */
  fileType?: number;
}

/** Plain dtypes, keyed by safetensors dtype. */
export const PLAIN: Readonly<Record<string, GgufType>> = {
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
export function quantizedType(scheme: string): GgufType | undefined {
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

/** Bytes of `elements` values of `type`. */
export const sizeOf = (type: GgufType, elements: number): number => (elements / type.blockElements) * type.blockBytes;
