/**
 * The strategy table: what `method: auto` (the default method) means for a tensor, by modality,
 * at the configured bit width, for a layer with and without a calibration Hessian. Every row is
 * a list of formats in order of preference; a tensor takes the first whose rows it fits (the
 * GGUF K-quants need rows of whole 256-value super-blocks, the legacy GGUF formats rows of whole
 * 32-value blocks; RTN, HQQ and R2Q fit any row), so a row reads "primary format; rows that do
 * not fit it: the next". Every format of a row stores at least the row's bit width, so `auto`
 * never delivers fewer bits than asked (the quality gate's fallbacks may add more).
 *
 * Evidence for each choice: docs/STRATEGY.md and benches/RESULTS.md ("auto at the bit width").
 *
 * Activations follow the modality (seed 001): text/code (discrete diffusion) store time-aware
 * activation parameters, image/audio (continuous: DiTs, UNets) search spatial smoothing; both
 * only where their flags are on, and smoothing only for formats that can carry channel scales
 * (not the GGUF ones). An explicit method (config, a component, an `overrides` entry) replaces
 * the table for its tensors; then both activation features follow their flags.
 */
import type { BitWidth, GroupSize, Modality } from '../../common/config/index.js';
import { describeFormat } from '../../common/formats.js';
import type { ConcreteMethod } from './schemes.js';

/** One format of a row. */
export interface StrategyFormat {
  /** A format method, or `gptq` (GPTQ onto `onto` with the layer's Hessian). */
  method: ConcreteMethod;
  /** The grid GPTQ quantizes onto (method `gptq`). */
  onto?: string;
  /** Group size of a grouped format (rtn, hqq, r2q); absent: the configured `group_size`. */
  groupSize?: GroupSize;
}

export interface StrategyRow {
  /** The layer has a calibration Hessian. */
  hessian: readonly StrategyFormat[];
  /**
   * It has none (or no calibration file is given). Formats that weigh their search by importance
   * still use an imatrix (`imatrix`) when one is given.
   */
  plain: readonly StrategyFormat[];
}

export interface ModalityStrategy {
  timeAware: boolean;
  spatial: boolean;
  rows: Readonly<Record<BitWidth, StrategyRow>>;
}

const gptq = (onto: string, groupSize?: GroupSize): StrategyFormat => ({ method: 'gptq', onto, ...(groupSize ? { groupSize } : {}) });
const fmt = (method: ConcreteMethod, groupSize?: GroupSize): StrategyFormat => ({ method, ...(groupSize ? { groupSize } : {}) });

/**
 * The residual 2-bit of the seeds (text/code): R2Q at `group_size`, GPTQ onto its grid with a
 * Hessian; any row fits.
 */
const TWO_DISCRETE: StrategyRow = Object.freeze({
  hessian: Object.freeze([gptq('r2q')]),
  plain: Object.freeze([fmt('r2q')]),
});
/**
 * 2 bits, image/audio: llama.cpp's Q2_K where rows split into 256 (2.625 bits/weight; GPTQ onto
 * it with a Hessian, its importance search with an imatrix), R2Q at `group_size` for the rest
 * (GPTQ onto it with a Hessian; smoothed where calibrated).
 */
const TWO_CONTINUOUS: StrategyRow = Object.freeze({
  hessian: Object.freeze([gptq('q2_k'), gptq('r2q')]),
  plain: Object.freeze([fmt('q2_k'), fmt('r2q')]),
});
/**
 * 4 bits: llama.cpp's Q4_K where rows split into 256 (4.5 bits/weight; GPTQ onto it with a
 * Hessian, its importance search with an imatrix). Without a Hessian, Q4_0 (4.5; importance
 * from an imatrix) for rows of whole 32s and HQQ INT4 g128 (4.5) for the rest. With one, GPTQ
 * onto a grouped grid of at most 4.5 bits for every row that is not whole 256s: HQQ INT4 g128
 * for text/code, asymmetric RTN INT4 g128 (4.31; smoothed where calibrated) for image/audio.
 */
const fourRow = (rest: StrategyFormat): StrategyRow =>
  Object.freeze({
    hessian: Object.freeze([gptq('q4_k'), rest]),
    plain: Object.freeze([fmt('q4_k'), fmt('q4_0'), fmt('hqq', 128)]),
  });
/**
 * 8 bits: with a Hessian GPTQ onto asymmetric RTN INT8 g128 (8.31 bits/weight), any row;
 * without, llama.cpp's Q8_0 (8.5) for rows of whole 32s and HQQ INT8 g128 (8.5) for the rest.
 */
const EIGHT: StrategyRow = Object.freeze({
  hessian: Object.freeze([gptq('rtn', 128)]),
  plain: Object.freeze([fmt('q8_0'), fmt('hqq', 128)]),
});

const discrete: ModalityStrategy = Object.freeze({
  timeAware: true,
  spatial: false,
  rows: Object.freeze({ 2: TWO_DISCRETE, 4: fourRow(gptq('hqq', 128)), 8: EIGHT }),
});
const continuous: ModalityStrategy = Object.freeze({
  timeAware: false,
  spatial: true,
  rows: Object.freeze({ 2: TWO_CONTINUOUS, 4: fourRow(gptq('rtn', 128)), 8: EIGHT }),
});

export const STRATEGY_TABLE: Readonly<Record<Modality, ModalityStrategy>> = Object.freeze({
  text: discrete,
  code: discrete,
  image: continuous,
  audio: continuous,
});

/** The format a row's entry stores at `bits` (its canonical name) and its description. */
export function entryFormat(f: StrategyFormat, bits: BitWidth, groupSize: number) {
  return describeFormat({ name: f.onto ?? f.method, bits, groupSize: f.groupSize ?? groupSize });
}

/** How a row's entry reads: `gptq→q4_k`, `q4_0+importance`, `rtn_int4_g128_asym`. */
export function entryLabel(f: StrategyFormat, bits: BitWidth, groupSize: number, importance: boolean): string {
  const d = entryFormat(f, bits, groupSize);
  if (f.method === 'gptq') return `gptq→${d.scheme}`;
  return importance && d.importance ? `${d.scheme}+importance` : d.scheme;
}

/**
 * The row as the plan event, `--verbose` and each tensor's reason say it, e.g.
 * `auto (text, 4-bit, calibrated): gptq→q4_k; rows not /256: q4_0+importance; rows not /32: gptq→rtn_int4_g128_asym`.
 * `importance`: a Hessian or an imatrix weighs the formats that use importance.
 */
export function rowLabel(modality: Modality, bits: BitWidth, hessian: boolean, groupSize: number, importance: boolean): string {
  const entries = STRATEGY_TABLE[modality].rows[bits][hessian ? 'hessian' : 'plain'];
  const parts = entries.map((f, i) => {
    const label = entryLabel(f, bits, groupSize, importance);
    return i === 0 ? label : `rows not /${entryFormat(entries[i - 1]!, bits, groupSize).rowMultiple}: ${label}`;
  });
  return `auto (${modality}, ${bits}-bit, ${hessian ? 'calibrated' : 'not calibrated'}): ${parts.join('; ')}`;
}

/**
 * The entry a tensor with rows of `cols` takes: the first that fits, and its place in the row
 * (0: the primary format). A GGUF format must also fit the ggml row, `lastAxis` (a conv kernel
 * [O, I, 3, 3] has rows of 3 there): its blocks must be ggml rows for the file to export.
 * Undefined: none fits.
 */
export function rowEntry(modality: Modality, bits: BitWidth, hessian: boolean, groupSize: number, cols: number, lastAxis: number = cols): { entry: StrategyFormat; index: number } | undefined {
  const entries = STRATEGY_TABLE[modality].rows[bits][hessian ? 'hessian' : 'plain'];
  const index = entries.findIndex((f) => {
    const d = entryFormat(f, bits, groupSize);
    return (d.gguf != null ? lastAxis : cols) % d.rowMultiple === 0;
  });
  return index < 0 ? undefined : { entry: entries[index]!, index };
}
