import { NonFiniteError, QuantizationError } from '../errors.js';

/** Quantizing one chunk failed; names the tensor and, for NaN/Inf, the element. */
export class ChunkError extends QuantizationError {
  override name = 'ChunkError';
  constructor(
    readonly tensor: string,
    readonly chunkIndex: number,
    cause: unknown,
    /** First row of the chunk within the tensor, to turn a chunk-relative position absolute. */
    rowStart = 0,
  ) {
    const where =
      cause instanceof NonFiniteError
        ? `${cause.value} at row ${cause.row + rowStart}, column ${cause.col}`
        : cause instanceof Error
          ? cause.message
          : String(cause);
    super(`tensor "${tensor}": ${cause instanceof NonFiniteError ? 'non-finite weight ' : ''}${where}`, { cause });
  }
}
