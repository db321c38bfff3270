import { QuantizationError, ValidationError } from '../../common/errors.js';

/** `fail_fast` is on and a tensor's quality is below `min_accuracy`. */
export class QualityThresholdError extends ValidationError {
  override name = 'QualityThresholdError';
  constructor(
    readonly tensor: string,
    readonly scheme: string,
    readonly cosine: number,
    readonly threshold: number,
    /** Which cosine: of the layer's outputs on the calibration inputs, or of the weights. */
    readonly basis: 'layer_output' | 'weight' = 'weight',
  ) {
    const what = basis === 'layer_output' ? 'layer-output cosine (on the calibration inputs)' : 'cosine similarity';
    super(`tensor "${tensor}": ${what} ${cosine.toFixed(6)} with ${scheme} is below min_accuracy ${threshold} (fail_fast is on, so no fallback)`);
  }
}

/** The output path cannot be used (it is an input file, or a directory). */
export class OutputPathError extends QuantizationError {
  override name = 'OutputPathError';
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

/** The job was interrupted (Ctrl-C or an abort signal); nothing was written. */
export class JobAbortedError extends QuantizationError {
  override name = 'JobAbortedError';
  constructor(reason: unknown) {
    super(`interrupted (${reason instanceof Error ? reason.message : String(reason)}); no output was written`, { cause: reason });
  }
}
