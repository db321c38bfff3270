/** ArrowQuant's configuration: schema, profiles, layered resolution and named errors. */
export {
  BIT_WIDTHS,
  CONFIG_KEYS,
  ConfigSchema,
  DEPLOYMENT_PROFILES,
  GROUP_SIZES,
  LayerSchema,
  METHODS,
  MODALITIES,
  OVERRIDE_KEYS,
  OverrideSchema,
  PRESERVE_DTYPES,
  RULES,
  compilePattern,
  patternProblem,
  type BitWidth,
  type ConfigKey,
  type DeploymentProfile,
  type GroupSize,
  type Method,
  type Modality,
  type OverrideRule,
  type PreserveDtype,
  type PreserveRules,
  type ResolvedConfig,
} from './schema.js';
export { MIXES, MIX_FILE_TYPE, mixBase, type Mix } from './mixes.js';
export { DEFAULTS, DEFAULT_PROFILE, PROFILES, PROFILE_KEYS, isProfileKey, profileConfig, type ProfileKey, type ProfilePreset } from './profiles.js';
export {
  ConfigurationError,
  InvalidAccuracy,
  InvalidBitWidth,
  InvalidConfigValue,
  InvalidGroupSize,
  InvalidTimeGroups,
  InvalidYaml,
  UnknownConfigKey,
  describeSource,
  type ConfigErrorOptions,
  type ConfigSource,
} from './errors.js';
export { loadYamlConfig, parseYamlConfig, type KeyPath, type LoadedYaml, type YamlPosition } from './yaml.js';
export { ENV_VARIABLES, envWarnings, parseConfigText, readEnv, type EnvKey } from './env.js';
export {
  cliFlag,
  describeConfig,
  resolveConfig,
  type ApiValues,
  type CliValues,
  type ConfigSources,
  type Resolution,
  type ResolveOptions,
} from './resolve.js';
export { exampleConfigYaml, writeExampleConfig } from './example.js';
