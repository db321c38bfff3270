/**
 * `DiffusionQuantConfig`: the seeds' Python configuration object in TypeScript. Immutable: every
 * method returns a new config. Resolution is the CLI's (common/config), with these layers, lowest
 * first: defaults < profile < YAML (`fromYaml`) < environment (only after `applyEnvOverrides()`;
 * a library does not read `ARROW_QUANT_*` unless asked) < values set here (`with`, like flags).
 * `validate()` resolves and returns the full configuration or throws the named ConfigurationError.
 */
import { resolveConfig, type DeploymentProfile, type ResolvedConfig } from '../common/config/index.js';

export type ConfigValues = Partial<ResolvedConfig>;

export class DiffusionQuantConfig {
  private constructor(
    private readonly values: ConfigValues,
    private readonly yamlPath: string | undefined,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The defaults: the `local` profile. */
  static default(): DiffusionQuantConfig {
    return new DiffusionQuantConfig({}, undefined, {});
  }

  /** A deployment profile's presets (edge: 2-4 GB RAM, local: 8+ GB, cloud: 32+ GB). */
  static fromProfile(profile: DeploymentProfile): DiffusionQuantConfig {
    return new DiffusionQuantConfig({ deployment_profile: profile }, undefined, {});
  }

  /** A YAML file as `--config` reads it (its `deployment_profile`, if any, picks the profile). */
  static fromYaml(path: string): DiffusionQuantConfig {
    return new DiffusionQuantConfig({}, path, {});
  }

  /** These values on top (they win over YAML and environment, as flags do). */
  with(values: ConfigValues): DiffusionQuantConfig {
    return new DiffusionQuantConfig({ ...this.values, ...values }, this.yamlPath, this.env);
  }

  /** Let `ARROW_QUANT_*` variables (of `env`, default `process.env`) override the profile and YAML. */
  applyEnvOverrides(env: NodeJS.ProcessEnv = process.env): DiffusionQuantConfig {
    return new DiffusionQuantConfig(this.values, this.yamlPath, { ...env });
  }

  /** The resolved configuration; throws InvalidBitWidth, InvalidGroupSize, … (ConfigurationError). */
  validate(): ResolvedConfig {
    return resolveConfig({ env: this.env, api: this.values, ...(this.yamlPath !== undefined ? { yamlPath: this.yamlPath } : {}) }).config;
  }

  /** The resolved value of every key with where it came from (default, profile, YAML line, …). */
  describe() {
    const r = resolveConfig({ env: this.env, api: this.values, ...(this.yamlPath !== undefined ? { yamlPath: this.yamlPath } : {}) });
    return { config: r.config, sources: r.sources, warnings: r.warnings };
  }
}
