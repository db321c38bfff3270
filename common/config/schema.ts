/**
 * The configuration schema: the one source of truth for every key, its type, its valid values and
 * its documentation. `resolve.ts` validates each layer and the merged result with it, and
 * `example.ts` writes config.example.yaml from the `.describe()` texts and `RULES`.
 */
import { z } from 'zod';

import { FORMAT_FAMILIES, FORMAT_METHODS } from '../formats.js';
import { MIXES } from './mixes.js';

export const BIT_WIDTHS = [2, 4, 8] as const;
export const GROUP_SIZES = [32, 64, 128, 256] as const;
export const MODALITIES = ['text', 'code', 'image', 'audio'] as const;
export const DEPLOYMENT_PROFILES = ['edge', 'local', 'cloud'] as const;
export const PRESERVE_DTYPES = ['source', 'float32', 'float16', 'bfloat16'] as const;
/** Methods that are algorithms over the formats rather than formats themselves. */
export const ALGORITHM_METHODS = ['gptq', 'auto'] as const;
/**
 * Quantization methods: every format method of the kernels' registry (common/formats.ts;
 * docs/FORMAT.md's formats table), then the algorithms.
 */
export const METHODS: readonly string[] = Object.freeze([...FORMAT_METHODS, ...ALGORITHM_METHODS]);

export type BitWidth = (typeof BIT_WIDTHS)[number];
export type GroupSize = (typeof GROUP_SIZES)[number];
export type Modality = (typeof MODALITIES)[number];
export type DeploymentProfile = (typeof DEPLOYMENT_PROFILES)[number];
export type PreserveDtype = (typeof PRESERVE_DTYPES)[number];
/** A name from {@link METHODS} (checked when a config is resolved). */
export type Method = string;

/** "a, b or c" */
const oneOf = (values: readonly unknown[]): string =>
  values.length < 2 ? values.map(String).join('') : `${values.slice(0, -1).join(', ')} or ${String(values.at(-1))}`;

/**
 * Each key's valid values in words. Error messages read "must be <rule>" and config.example.yaml
 * prints "Valid: <rule>", so the wording is written once.
 */
export const RULES = {
  deployment_profile: oneOf(DEPLOYMENT_PROFILES),
  bit_width: oneOf(BIT_WIDTHS),
  method: oneOf(METHODS),
  group_size: oneOf(GROUP_SIZES),
  modality: `${oneOf([...MODALITIES, 'null'])} (null = auto-detect)`,
  num_time_groups: 'an integer from 1 to 100',
  enable_time_aware: 'true or false',
  enable_spatial: 'true or false',
  min_accuracy: 'a number from 0 to 1',
  calibration_samples: 'an integer of at least 1',
  calibration: 'a path to a calibration safetensors file, or null',
  mix: `${oneOf([...MIXES, 'null'])}`,
  gptq_format: `null or a format GPTQ can target (${oneOf(FORMAT_FAMILIES.filter((f) => f.gptqTarget).flatMap((f) => f.methods))})`,
  imatrix: 'a path to a llama.cpp importance matrix (imatrix.gguf or legacy .dat), or null',
  uniform_importance: 'true or false',
  target_memory_gb: 'a number greater than 0, or null',
  gptq_damp: 'a number from 0 to 1',
  gptq_act_order: 'true or false',
  fail_fast: 'true or false',
  num_threads: 'an integer of at least 0 (0 = all cores)',
  enable_streaming: 'true or false',
  chunk_mib: 'an integer from 1 to 1024',
  keep_default_rules: 'true or false',
  preserve: `a mapping of regular expression to ${oneOf(PRESERVE_DTYPES)}`,
  overrides: 'a list of {pattern, bit_width?, method?, group_size?} entries',
  components: 'a mapping of pipeline component name to keep or {bit_width?, method?, group_size?}',
  pattern: 'a regular expression',
} as const;

const must = (rule: string) => ({ error: `must be ${rule}` });

/** Every tensor-name pattern (preserve keys, override patterns) is compiled by this, and only this. */
export function compilePattern(source: string): RegExp {
  return new RegExp(source);
}

/** Why `source` is not a usable pattern, or undefined when it compiles. */
export function patternProblem(source: string): string | undefined {
  try {
    compilePattern(source);
    return undefined;
  } catch (err) {
    // V8 says "Invalid regular expression: /(x/: Unterminated group"; keep the part after the regex.
    const message = err instanceof Error ? err.message : String(err);
    return message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
  }
}

const bool = () => z.boolean(must('true or false'));
const bitWidth = () => z.literal(BIT_WIDTHS, must(RULES.bit_width));
const groupSize = () => z.literal(GROUP_SIZES, must(RULES.group_size));
const method = () => z.enum(METHODS, must(RULES.method));
const intRange = (rule: string, min: number, max?: number) => {
  const s = z.int(must(rule)).min(min, must(rule));
  return max === undefined ? s : s.max(max, must(rule));
};

const pattern = z
  .string({ error: (iss) => (iss.input === undefined ? 'is required' : `must be ${RULES.pattern}`) })
  .refine((src) => patternProblem(src) === undefined, {
    error: (iss) => `must be a valid regular expression (${patternProblem(String(iss.input)) ?? 'invalid'})`,
  });

/** One entry of `overrides` (first match wins). A pattern-only entry shields its tensors from later entries. */
export const OverrideSchema = z.strictObject(
  {
    pattern: pattern.describe('JavaScript regular expression matched (unanchored) against the tensor name.'),
    bit_width: bitWidth().optional().describe('Bit width for matching tensors (rtn and rtn_sym).'),
    method: method().optional().describe('Method for matching tensors.'),
    group_size: groupSize().optional().describe('Group size for matching tensors.'),
    quantize: z
      .boolean()
      .optional()
      .describe(
        'true: quantize matching tensors even where a built-in name rule (embedder, adaLN, output layer) would keep them. Without it an override only changes how tensors that are quantized anyway are quantized. 1-D, tiny and non-float tensors are always kept.',
      ),
  },
  must(RULES.overrides.replace(/^a list of /, 'a mapping like ').replace(/ entries$/, '')),
);

/** Settings for one diffusers pipeline component (diffusers' PipelineQuantizationConfig, per component). */
export const ComponentSchema = z.strictObject(
  {
    bit_width: bitWidth().optional().describe('Bit width for the component\'s tensors.'),
    method: method().optional().describe('Method for the component\'s tensors.'),
    group_size: groupSize().optional().describe('Group size for the component\'s tensors.'),
  },
  must('keep or a mapping of bit_width, method and group_size'),
);

type ComponentSettings = 'keep' | z.output<typeof ComponentSchema>;
const COMPONENT_RULE = 'keep or a mapping of bit_width, method and group_size';
/**
 * `keep`, or the component's settings checked by ComponentSchema with its issues passed through
 * (a union would report only "matches neither", hiding which setting is wrong and where).
 */
const componentValue = z
  .unknown()
  .superRefine((v, ctx) => {
    if (v === 'keep') return;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      ctx.addIssue({ code: 'custom', message: `must be ${COMPONENT_RULE}` });
      return;
    }
    const r = ComponentSchema.safeParse(v);
    for (const issue of r.error?.issues ?? []) ctx.addIssue({ ...issue, path: issue.path } as Parameters<typeof ctx.addIssue>[0]);
  })
  .transform((v) => v as ComponentSettings);

const preserve = z
  .record(z.string(), z.enum(PRESERVE_DTYPES, must(oneOf(PRESERVE_DTYPES))), must(RULES.preserve))
  .superRefine((rec, ctx) => {
    for (const key of Object.keys(rec)) {
      const problem = patternProblem(key);
      // The path ends in the key itself; resolve.ts reports such an issue as a bad key, not a bad value.
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `must be a valid regular expression (${problem})`, params: { badKey: true } });
    }
  });

/** The whole configuration, after resolution: every key present. Unknown keys are errors. */
export const ConfigSchema = z.strictObject({
  deployment_profile: z
    .enum(DEPLOYMENT_PROFILES, must(RULES.deployment_profile))
    .describe('Deployment profile whose presets fill every profile-dependent key that is not set explicitly: edge (2-4 GB RAM), local (8+ GB), cloud (32+ GB).'),
  bit_width: bitWidth().describe(
    'The bits per weight method auto (the default) delivers, at least: the strategy table\'s row for this width (docs/STRATEGY.md). Also the width of rtn, rtn_sym and hqq; other formats have fixed widths. Lower compresses more and loses more accuracy.',
  ),
  method: method().describe(
    `Quantization method: a format, or an algorithm over the formats. Formats (docs/FORMAT.md): ${FORMAT_FAMILIES.map((f) => `${f.methods.join(' / ')}: ${f.summary}`).join('; ')}. r2q also runs GPTQ onto its grid where the layer has calibration. Algorithms: gptq: GPTQ onto the rtn grid with each layer's input Hessian from \`calibration\` (layers without one use rtn, with a warning); auto (the default): the strategy table (docs/STRATEGY.md), per modality at bit_width, with or without each layer's calibration Hessian; each tensor takes the first format of its row that its row length fits. 2 bits: text/code r2q (GPTQ onto it where calibrated); image/audio q2_k, else r2q (GPTQ onto them where calibrated). 4 bits: q4_k (GPTQ onto it where calibrated); without a Hessian q4_0, else hqq g128; with one GPTQ onto hqq g128 (text/code) or rtn g128 (image/audio). 8 bits: GPTQ onto rtn g128 where calibrated, else q8_0, else hqq g128. With a mix, the mix's formats (GPTQ onto them where calibrated); with target_memory_gb, rtn.`,
  ),
  group_size: groupSize().describe(
    'Weights per group sharing one scale (rtn, rtn_sym, hqq, r2q; with auto, its 2-bit R2Q). Smaller groups are more accurate and store more scales. The GGUF formats and auto\'s 4- and 8-bit rows have fixed blocks.',
  ),
  modality: z
    .enum(MODALITIES, must(RULES.modality))
    .nullable()
    .describe('Modality of the diffusion model; null detects it from the model metadata. Text and code use discrete-diffusion strategies, image and audio continuous ones.'),
  num_time_groups: intRange(RULES.num_time_groups, 1, 100).describe('Number of timestep groups for time-aware quantization. More groups follow temporal variance more closely and use more memory and time.'),
  enable_time_aware: bool().describe('Time-aware quantization: handle the variance of activations across diffusion timesteps.'),
  enable_spatial: bool().describe('Spatial quantization: channel equalization and activation smoothing. Helps continuous (image, audio) models most.'),
  min_accuracy: z
    .number(must(RULES.min_accuracy))
    .min(0, must(RULES.min_accuracy))
    .max(1, must(RULES.min_accuracy))
    .describe('Minimum cosine similarity of a quantized layer to its original; below it the layer falls back to a higher bit width (unless fail_fast). A layer with a calibration Hessian must also reach it on its outputs, cos(XWᵀ, XŴᵀ) on the calibration inputs.'),
  calibration_samples: intRange(RULES.calibration_samples, 1).describe('Calibration samples used to compute quantization parameters. More is more accurate and slower.'),
  calibration: z
    .string(must(RULES.calibration))
    .min(1, must(RULES.calibration))
    .nullable()
    .describe(
      'Calibration statistics (safetensors: per-layer input Hessian, per-timestep-group activation ranges; docs/CALIBRATION.md, tools/capture_calibration.py). Used by gptq, r2q and auto (GPTQ where a layer has a Hessian; importance from its diagonal), enable_spatial and enable_time_aware. A relative path is relative to the working directory.',
    ),
  target_memory_gb: z
    .number(must(RULES.target_memory_gb))
    .gt(0, must(RULES.target_memory_gb))
    .nullable()
    .describe(
      'Memory budget in GB (10^9 bytes) for the stored model (quantized payload + kept tensors): each quantized tensor gets 2, 4 or 8 bits or is kept, by its measured error at each width, to fit the budget with the least loss; the allocation replaces min_accuracy fallbacks. Needs a method with a bit width (rtn, rtn_sym, hqq). null: no budget.',
    ),
  mix: z
    .enum(MIXES, must(RULES.mix))
    .nullable()
    .describe(
      "A llama.cpp quantization mix (llama-quantize's file types): each quantized tensor's GGUF format by its role, as llama-quantize chooses it (q4_k_m: q4_k, with q6_k for the attention value and FFN down projections of the first and last layers and every third between, q6_k for the output head; q4_0/q4_1/q5_0/q5_1/q8_0: that format, with a q6_k output head except in q8_0; coordinator/plan/mixes.ts documents every mix). With keep_default_rules false (embeddings and head quantized too) a Hugging Face LLM's tensors get exactly llama-quantize's types (docs/RUN-LLAMA-CPP.md). method then only says how: gptq runs GPTQ onto each tensor's format where the layer has a Hessian; any other method quantizes with the format itself. An overrides entry or a component's method still wins for its tensors. null: no mix.",
    ),
  gptq_format: z
    .enum(FORMAT_FAMILIES.filter((f) => f.gptqTarget).flatMap((f) => f.methods) as [string, ...string[]], must(RULES.gptq_format))
    .nullable()
    .describe(
      'The grid gptq quantizes onto: null for the rtn grid at bit_width and group_size; a K-quant (q2_k … q6_k) for GPTQ inside the parameters of llama.cpp\'s importance-weighted search, an ordinary GGUF tensor any llama.cpp build loads; or hqq/r2q.',
    ),
  imatrix: z
    .string(must(RULES.imatrix))
    .min(1, must(RULES.imatrix))
    .nullable()
    .describe(
      'A llama.cpp importance matrix (what llama-imatrix writes: imatrix.gguf or the legacy .dat) for the formats whose search weighs input columns by importance (the K-quants and q4_0/q4_1/q5_0/q5_1). Without it, a calibration file\'s Hessian diagonals serve the same purpose where present. An imatrix of another model is an error. A relative path is relative to the working directory.',
    ),
  uniform_importance: bool().describe(
    "Quantize the formats that weigh their search by importance (the K-quants and q4_0/q4_1/q5_0/q5_1) with an importance of 1 for every column where neither imatrix nor a calibration Hessian gives one, instead of llama.cpp's unweighted reference search. This is what stable-diffusion.cpp's `sd-cli -M convert` does (it passes a dummy all-ones importance matrix to ggml), so its bytes for these formats are this option's (docs/RUN-SD-CPP.md); Q8_0 is the same either way.",
  ),
  gptq_damp: z
    .number(must(RULES.gptq_damp))
    .min(0, must(RULES.gptq_damp))
    .max(1, must(RULES.gptq_damp))
    .describe('GPTQ dampening, as a fraction of the mean diagonal of the Hessian (published default 0.01).'),
  gptq_act_order: bool().describe('GPTQ act-order: quantize input columns by decreasing Hessian diagonal (with static groups).'),
  fail_fast: bool().describe('Fail on the first layer below min_accuracy instead of falling back to a higher bit width. For testing and debugging.'),
  num_threads: intRange(RULES.num_threads, 0).describe('Worker threads for quantization; 0 uses every CPU core.'),
  enable_streaming: bool().describe('Streaming: load one layer at a time, trading speed for a small memory footprint.'),
  chunk_mib: intRange(RULES.chunk_mib, 1, 1024).describe('Target size of one unit of work, in MiB of source (unquantized) bytes.'),
  keep_default_rules: bool().describe('Apply the built-in rules that keep some tensors in float (see preserve).'),
  preserve: preserve.describe(
    'Tensors to keep unquantized: regular expression (matched against the tensor name) to stored dtype. source keeps the bytes exactly as read; float32, float16 and bfloat16 convert.',
  ),
  components: z
    .record(z.string(), componentValue, must(RULES.components))
    .describe(
      'Per diffusers pipeline component (transformer, text_encoder, vae, …): keep (every tensor stored as it was) or its own bit_width, method and group_size, over the global ones; overrides entries still win for the tensors they match. A name the model does not have is an error. The file records each tensor\'s component.',
    ),
  overrides: z
    .array(OverrideSchema, must(RULES.overrides))
    .describe('Per-tensor settings, tried in order; the first entry whose pattern matches the tensor name wins. Each may set bit_width, method and group_size.'),
});

/** One layer (a YAML file, the environment, flags): any subset of the keys, still strict. */
export const LayerSchema = ConfigSchema.partial();

export type ResolvedConfig = z.output<typeof ConfigSchema>;
export type ConfigKey = keyof ResolvedConfig;
export type OverrideRule = z.output<typeof OverrideSchema>;
export type PreserveRules = ResolvedConfig['preserve'];
export type ComponentRules = ResolvedConfig['components'];

/** The keys in schema order (the order of config.example.yaml and of `describeConfig`). */
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape) as ConfigKey[];
export const OVERRIDE_KEYS = Object.keys(OverrideSchema.shape) as (keyof OverrideRule)[];

// Every key has a rule; checked at compile time.
RULES satisfies Record<ConfigKey, string>;
