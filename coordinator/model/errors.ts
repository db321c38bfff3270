import { QuantizationError } from '../../common/errors.js';

/** The model directory or one of its files is unusable. `file` and `tensor` say where. */
export class ModelFormatError extends QuantizationError {
  override name = 'ModelFormatError';
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly tensor?: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}${tensor !== undefined ? `: tensor "${tensor}"` : ''}: ${detail}`, options);
  }
}
