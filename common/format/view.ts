/**
 * The 2-D view every tensor is quantized and chunked in (docs/FORMAT.md): `rows` = the first
 * dimension (output channels), `cols` = the product of the others, as GPTQ and HQQ flatten conv
 * weights. A 3×3 conv `[out, in, 3, 3]` is `[out, in·9]`, so its groups span whole kernels
 * rather than 3-element rows. 0-D and 1-D tensors are `[elements, 1]`; an empty tensor has 0 rows.
 */
export function view2d(shape: readonly number[]): { rows: number; cols: number } {
  const elements = shape.reduce((a, b) => a * b, 1);
  if (shape.length <= 1) return { rows: elements, cols: 1 };
  const cols = shape.slice(1).reduce((a, b) => a * b, 1);
  return { rows: elements === 0 ? 0 : shape[0]!, cols };
}
