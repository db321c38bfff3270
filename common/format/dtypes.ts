/** safetensors dtypes and their element sizes. F32/F16/BF16 are quantizable; the rest pass through. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

export type QuantizableDtype = 'F32' | 'F16' | 'BF16';

export function isQuantizable(dtype: string): dtype is QuantizableDtype {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}
