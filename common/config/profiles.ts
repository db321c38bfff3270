/**
 * Deployment profiles (the configuration guide's preset table) and the defaults of every key no
 * profile sets. A resolved configuration starts from `DEFAULTS` plus the chosen profile's preset.
 *
 * `min_accuracy` is not the seeds' 0.65 / 0.85 / 0.95: measured on a real encoder
 * (benches/RESULTS.md, "Which figure predicts the damage"), 2-bit layers that kept weight
 * cosines of 0.80-0.90 each broke the model alone, and the 4-bit formats kept ≥ 0.99 on weights
 * and layer outputs. 0.97 (local) passes every 4-bit layer there and no layer that broke the model
 * alone; 0.95 (edge) keeps 2-bit only where a layer holds it (R2Q without calibration kept
 * 0.925-0.94 on that model's weights and the model's embeddings fell to cosine 0.63, so every such
 * layer goes to 4 bits there); 0.99 (cloud) asks for better than 4-bit on every layer.
 */
import type { ConfigKey, DeploymentProfile, ResolvedConfig } from './schema.js';

/** The keys a profile sets; every other key comes from `DEFAULTS`. */
export const PROFILE_KEYS = [
  'bit_width',
  'num_time_groups',
  'group_size',
  'enable_time_aware',
  'enable_spatial',
  'min_accuracy',
  'calibration_samples',
  'enable_streaming',
] as const satisfies readonly ConfigKey[];

export type ProfileKey = (typeof PROFILE_KEYS)[number];
export type ProfilePreset = Pick<ResolvedConfig, ProfileKey>;

export const PROFILES: Readonly<Record<DeploymentProfile, Readonly<ProfilePreset>>> = Object.freeze({
  edge: Object.freeze({
    bit_width: 2,
    num_time_groups: 5,
    group_size: 256,
    enable_time_aware: true,
    enable_spatial: false,
    min_accuracy: 0.95,
    calibration_samples: 32,
    enable_streaming: true,
  }),
  local: Object.freeze({
    bit_width: 4,
    num_time_groups: 10,
    group_size: 128,
    enable_time_aware: true,
    enable_spatial: true,
    min_accuracy: 0.97,
    calibration_samples: 128,
    enable_streaming: false,
  }),
  cloud: Object.freeze({
    bit_width: 8,
    num_time_groups: 20,
    group_size: 64,
    enable_time_aware: true,
    enable_spatial: true,
    min_accuracy: 0.99,
    calibration_samples: 512,
    enable_streaming: false,
  }),
});

export const DEFAULT_PROFILE: DeploymentProfile = 'local';

/** Defaults of the keys no profile sets. `preserve` and `overrides` are frozen: copy before editing. */
export const DEFAULTS: Readonly<Omit<ResolvedConfig, ProfileKey>> = Object.freeze({
  deployment_profile: DEFAULT_PROFILE,
  method: 'auto',
  modality: null,
  calibration: null,
  mix: null,
  gptq_format: null,
  imatrix: null,
  uniform_importance: false,
  target_memory_gb: null,
  gptq_damp: 0.01,
  gptq_act_order: false,
  fail_fast: false,
  num_threads: 0,
  chunk_mib: 16,
  keep_default_rules: true,
  preserve: Object.freeze({}) as ResolvedConfig['preserve'],
  components: Object.freeze({}) as ResolvedConfig['components'],
  overrides: Object.freeze([]) as unknown as ResolvedConfig['overrides'],
});

export function isProfileKey(key: string): key is ProfileKey {
  return (PROFILE_KEYS as readonly string[]).includes(key);
}

/** The full configuration of a profile with nothing overridden (fresh objects, safe to edit). */
export function profileConfig(profile: DeploymentProfile): ResolvedConfig {
  return { ...DEFAULTS, ...PROFILES[profile], deployment_profile: profile, preserve: {}, components: {}, overrides: [] };
}
