/**
 * The modality strategy table (seed 001), what `method: auto` means for a tensor:
 *
 * | modality     | weights, layer with a Hessian | weights, without | activations                 |
 * |--------------|-------------------------------|------------------|-----------------------------|
 * | text, code   | GPTQ onto the R2Q grid (2-bit) | R2Q (2-bit)      | time-aware (enable_time_aware) |
 * | image, audio | GPTQ at bit_width              | RTN at bit_width | spatial smoothing (enable_spatial) |
 *
 * Discrete (text/code) diffusion LMs: residual 2-bit keeps the two signs of every weight and
 * the activations drift with the masking ratio, hence per-timestep activation ranges. Continuous
 * (image/audio) DiTs/UNets: GPTQ needs more bits but compensates error through the Hessian, and
 * their activation outlier channels are what smoothing moves into the weights. An explicit method
 * (config or an `overrides` entry) replaces the weight column; then both activation features
 * follow their flags.
 */
import type { Modality } from '../../common/config/index.js';
import type { ConcreteMethod } from './schemes.js';

export interface Strategy {
  /** The weight method (`gptq` turns into `rtn` where a layer has no Hessian). */
  method: ConcreteMethod;
  timeAware: boolean;
  spatial: boolean;
}

export const STRATEGY_TABLE: Readonly<Record<Modality, Strategy>> = Object.freeze({
  text: { method: 'r2q', timeAware: true, spatial: false },
  code: { method: 'r2q', timeAware: true, spatial: false },
  image: { method: 'gptq', timeAware: false, spatial: true },
  audio: { method: 'gptq', timeAware: false, spatial: true },
});
