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

/** The dtypes the kernels read. */
export const QUANTIZABLE_DTYPES = ['F32', 'F16', 'BF16'] as const;
export type QuantizableDtype = (typeof QUANTIZABLE_DTYPES)[number];

export function isQuantizable(dtype: string): dtype is QuantizableDtype {
  return (QUANTIZABLE_DTYPES as readonly string[]).includes(dtype);
}
