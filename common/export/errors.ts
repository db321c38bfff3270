import { ArrowQuantError } from '../errors.js';

/** An export cannot be done as asked; `tensors` lists the ones at fault (when it is about tensors). */
export class ExportError extends ArrowQuantError {
  override name = 'ExportError';
  constructor(
    message: string,
    readonly tensors: string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
