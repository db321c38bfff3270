import { QuantizationError } from '../../common/errors.js';

/** The calibration file is unusable, or does not fit the model. `file` and `entry` say where. */
export class CalibrationError extends QuantizationError {
  override name = 'CalibrationError';
  constructor(
    readonly file: string,
    readonly detail: string,
    /** The tensor (`<layer>.hessian`, …) or metadata key at fault, if one is. */
    readonly entry?: string,
    options?: { cause?: unknown },
  ) {
    super(`calibration ${file}${entry !== undefined ? `: "${entry}"` : ''}: ${detail}`, options);
  }
}
