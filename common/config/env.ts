/**
 * The ARROW_QUANT_* environment variables, and the strict text parsing they share with string
 * command-line values: "4.5" is not an integer and "maybe" is not a boolean; each is an error
 * naming the variable (or flag), never a silent NaN or false.
 */
import { invalidValue, suggest, type ConfigSource } from './errors.js';
import { RULES, type ConfigKey } from './schema.js';

/** Each configuration key settable from the environment, and its variable. */
export const ENV_VARIABLES = {
  deployment_profile: 'ARROW_QUANT_DEPLOYMENT_PROFILE',
  bit_width: 'ARROW_QUANT_BIT_WIDTH',
  method: 'ARROW_QUANT_METHOD',
  group_size: 'ARROW_QUANT_GROUP_SIZE',
  modality: 'ARROW_QUANT_MODALITY',
  num_time_groups: 'ARROW_QUANT_NUM_TIME_GROUPS',
  enable_time_aware: 'ARROW_QUANT_ENABLE_TIME_AWARE',
  enable_spatial: 'ARROW_QUANT_ENABLE_SPATIAL',
  min_accuracy: 'ARROW_QUANT_MIN_ACCURACY',
  calibration_samples: 'ARROW_QUANT_CALIBRATION_SAMPLES',
  calibration: 'ARROW_QUANT_CALIBRATION',
  mix: 'ARROW_QUANT_MIX',
  imatrix: 'ARROW_QUANT_IMATRIX',
  target_memory_gb: 'ARROW_QUANT_TARGET_MEMORY_GB',
  fail_fast: 'ARROW_QUANT_FAIL_FAST',
  num_threads: 'ARROW_QUANT_NUM_THREADS',
  enable_streaming: 'ARROW_QUANT_ENABLE_STREAMING',
} as const satisfies Partial<Record<ConfigKey, string>>;

export type EnvKey = keyof typeof ENV_VARIABLES;

/** How a key's value is written as text. 'structured' keys (mappings, lists) have no text form. */
type TextKind = 'int' | 'number' | 'bool' | 'string' | 'nullable' | 'nullable-number' | 'structured';

const TEXT_KINDS = {
  deployment_profile: 'string',
  bit_width: 'int',
  method: 'string',
  group_size: 'int',
  modality: 'nullable',
  num_time_groups: 'int',
  enable_time_aware: 'bool',
  enable_spatial: 'bool',
  min_accuracy: 'number',
  calibration_samples: 'int',
  calibration: 'nullable',
  mix: 'nullable',
  gptq_format: 'nullable',
  imatrix: 'nullable',
  uniform_importance: 'bool',
  target_memory_gb: 'nullable-number',
  gptq_damp: 'number',
  gptq_act_order: 'bool',
  fail_fast: 'bool',
  num_threads: 'int',
  enable_streaming: 'bool',
  chunk_mib: 'int',
  keep_default_rules: 'bool',
  preserve: 'structured',
  components: 'structured',
  overrides: 'structured',
} as const satisfies Record<ConfigKey, TextKind>;

const INT = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const TRUE = new Set(['true', '1', 'yes']);
const FALSE = new Set(['false', '0', 'no']);

/**
 * The value of `key` written as `raw` (surrounding blanks ignored). Range and membership checks
 * are left to the schema; this only refuses text that is not a number or boolean at all.
 * @throws the key's named ConfigurationError, with `raw` as the value and `source` as its origin.
 */
export function parseConfigText(key: ConfigKey, raw: string, source: ConfigSource): unknown {
  const text = raw.trim();
  const fail = (reason: string) => invalidValue(key, key, raw, source, reason);
  switch (TEXT_KINDS[key]) {
    case 'int':
      if (!INT.test(text)) throw fail(`must be ${RULES[key]}`);
      return Number(text);
    case 'number':
      if (!NUMBER.test(text)) throw fail(`must be ${RULES[key]}`);
      return Number(text);
    case 'bool': {
      const lower = text.toLowerCase();
      if (TRUE.has(lower)) return true;
      if (FALSE.has(lower)) return false;
      throw fail('must be true or false (also 1/0, yes/no)');
    }
    case 'nullable-number':
      if (text.toLowerCase() === 'null') return null;
      if (!NUMBER.test(text)) throw fail(`must be ${RULES[key]}`);
      return Number(text);
    case 'nullable':
      // modality: "null" and "auto" both mean auto-detect.
      return ['null', 'auto'].includes(text.toLowerCase()) ? null : text;
    case 'string':
      return text;
    case 'structured':
      // Not parsed here: the schema rejects a string where a mapping or list belongs.
      return raw;
  }
}

/** The set ARROW_QUANT_* variables as configuration values (unset variables are absent). */
export function readEnv(env: NodeJS.ProcessEnv = process.env): Partial<Record<EnvKey, unknown>> {
  const values: Partial<Record<EnvKey, unknown>> = {};
  for (const [key, variable] of Object.entries(ENV_VARIABLES) as [EnvKey, string][]) {
    const raw = env[variable];
    if (raw !== undefined) values[key] = parseConfigText(key, raw, { kind: 'env', variable });
  }
  return values;
}

/**
 * Warnings for ARROW_QUANT_* variables that look like a misspelt known one (unrelated variables
 * with the prefix are left alone, as other tools may use it).
 */
export function envWarnings(env: NodeJS.ProcessEnv = process.env): string[] {
  const prefix = 'ARROW_QUANT_';
  const known: string[] = Object.values(ENV_VARIABLES);
  // Compare what follows the prefix, so the shared prefix does not make every name look close.
  const suffixes = known.map((v) => v.slice(prefix.length));
  const warnings: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith(prefix) || known.includes(name)) continue;
    const near = suggest(name.slice(prefix.length), suffixes);
    if (near !== undefined) warnings.push(`environment variable ${name} is not used; did you mean ${prefix}${near}?`);
  }
  return warnings;
}
