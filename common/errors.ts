/**
 * ArrowQuant's error classes. Each carries typed fields (never only a message) and the original
 * error as `cause`, so callers can branch on `instanceof` and log the whole chain.
 */

export class ArrowQuantError extends Error {
  override name = 'ArrowQuantError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A quantization job could not produce its file: a bad model or calibration file, an unusable
 * output path, a kernel error on a tensor, an interrupted run. (The seeds' Python API name.)
 */
export class QuantizationError extends ArrowQuantError {
  override name = 'QuantizationError';
}

/** Quality validation failed: a tensor below `min_accuracy` with `fail_fast`, a `verify` mismatch. */
export class ValidationError extends QuantizationError {
  override name = 'ValidationError';
}

/** The kernels rejected the input or parameters. `kind` is the Rust variant name. */
export class KernelError extends ArrowQuantError {
  override name = 'KernelError';
  readonly kind: string;
  constructor(kind: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

/** A NaN or infinity in the weights, at flat element `index` (`row`, `col`). */
export class NonFiniteError extends KernelError {
  override name = 'NonFiniteError';
  constructor(
    message: string,
    readonly index: number,
    readonly row: number,
    readonly col: number,
    readonly value: number,
    options?: { cause?: unknown },
  ) {
    super('NonFinite', message, options);
  }
}

/** A parameter the kernels do not support (`field` names it). */
export class InvalidParameterError extends KernelError {
  override name = 'InvalidParameterError';
  constructor(message: string, readonly field: string, readonly value: string, options?: { cause?: unknown }) {
    super('InvalidParameter', message, options);
  }
}

/** A buffer or shape whose size does not match what the format needs. */
export class SizeMismatchError extends KernelError {
  constructor(kind: string, message: string, readonly expected: number, readonly actual: number, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'SizeMismatchError';
  }
}

/** The format cannot store this row length (GGUF blocks need multiples of 32). */
export class RowLengthError extends KernelError {
  override name = 'RowLengthError';
  constructor(message: string, readonly cols: number, readonly multiple: number, options?: { cause?: unknown }) {
    super('RowLength', message, options);
  }
}

/** Reading or writing an ArrowQuant file failed; `path` names the file when known. */
export class FileFormatError extends ArrowQuantError {
  override name = 'FileFormatError';
  constructor(readonly kind: string, message: string, readonly path: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
  }
}

interface NativeKernelErrorShape {
  code?: unknown;
  kind?: unknown;
  message?: unknown;
  [field: string]: unknown;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);

/** Turn an error thrown by the native addon into a typed error; anything else passes through. */
export function fromNative(err: unknown): unknown {
  const e = err as NativeKernelErrorShape | null;
  if (e && typeof e === 'object' && e.code === 'ArrowQuantFormatError') {
    return new FileFormatError(String(e.kind), String(e.message), typeof e.path === 'string' ? e.path : undefined, { cause: err });
  }
  if (!e || typeof e !== 'object' || e.code !== 'ArrowQuantKernelError') return err;
  const message = String(e.message);
  const opts = { cause: err };
  switch (e.kind) {
    case 'NonFinite':
      return new NonFiniteError(message, num(e.index), num(e.row), num(e.col), num(e.value), opts);
    case 'InvalidParameter':
      return new InvalidParameterError(message, String(e.field), String(e.value), opts);
    case 'ShapeMismatch':
    case 'BufferSize':
      return new SizeMismatchError(e.kind, message, num(e.expected), num(e.actual), opts);
    case 'RowLength':
      return new RowLengthError(message, num(e.cols), num(e.multiple), opts);
    default:
      return new KernelError(String(e.kind), message, opts);
  }
}
