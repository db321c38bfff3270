/**
 * Resolving the configuration from its layers. Precedence, highest first: command-line flags
 * (and API values, at the same level, flags winning), ARROW_QUANT_* environment variables, the
 * YAML file, the deployment profile's presets, defaults. A layer replaces a key's whole value
 * (a YAML `preserve` replaces, not extends, a lower one).
 *
 * Every layer is validated on its own before merging, so an error names the place the bad value
 * was written, even when a higher layer would have replaced it: a wrong line in config.yaml is
 * reported although a flag happens to override it today.
 */
import type { z } from 'zod';

import { ENV_VARIABLES, envWarnings, parseConfigText, readEnv } from './env.js';
import { ConfigurationError, UnknownConfigKey, describeSource, formatValue, invalidValue, suggest, type ConfigSource } from './errors.js';
import { DEFAULTS, PROFILES, isProfileKey } from './profiles.js';
import { CONFIG_KEYS, ConfigSchema, LayerSchema, OVERRIDE_KEYS, type ConfigKey, type DeploymentProfile, type ResolvedConfig } from './schema.js';
import { loadYamlConfig, type KeyPath } from './yaml.js';

export type ConfigSources = Record<ConfigKey, ConfigSource>;
/** Flag values: typed, or strings as a command-line parser hands them over (parsed strictly). */
export type CliValues = { [K in ConfigKey]?: ResolvedConfig[K] | string };
export type ApiValues = Partial<ResolvedConfig>;

export interface ResolveOptions {
  /** Values given as command-line flags; an undefined value counts as not given. */
  cli?: CliValues;
  /** Flag names for `sources` and messages, where they differ from `cliFlag(key)`. */
  cliFlags?: Partial<Record<ConfigKey, string>>;
  yamlPath?: string;
  /** Defaults to process.env; pass {} to ignore the environment. */
  env?: NodeJS.ProcessEnv;
  /** Values set by a program calling ArrowQuant (same level as flags; a flag wins over them). */
  api?: ApiValues;
}

export interface Resolution {
  config: ResolvedConfig;
  /** Where each key's final value came from. */
  sources: ConfigSources;
  /** Non-fatal findings, e.g. an ARROW_QUANT_* variable that looks misspelt. */
  warnings: string[];
}

/** The flag for a key: --profile for deployment_profile, else --kebab-case (--bit-width). */
export function cliFlag(key: string): string {
  return key === 'deployment_profile' ? '--profile' : `--${key.replaceAll('_', '-')}`;
}

/** Values written in one place, and where in that place each path is written. */
interface Layer {
  values: Record<string, unknown>;
  sourceOf(path: KeyPath): ConfigSource;
}

/** `overrides[0].pattern`, `preserve["(x"]` */
function formatPath(path: KeyPath): string {
  return path
    .map((seg, i) => {
      if (typeof seg === 'number') return `[${seg}]`;
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) return i === 0 ? seg : `.${seg}`;
      return `[${JSON.stringify(seg)}]`;
    })
    .join('');
}

function valueAt(root: unknown, path: KeyPath): unknown {
  let node = root;
  for (const seg of path) node = node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[seg] : undefined;
  return node;
}

/** The top-level or override key a value belongs to, which picks the named error class. */
function schemaKey(path: KeyPath): string | undefined {
  if (path.length === 1) return String(path[0]);
  if (path.length === 3 && (path[0] === 'overrides' || path[0] === 'components')) return String(path[2]);
  return undefined;
}

function issueToError(issue: z.core.$ZodIssue, layer: Layer): ConfigurationError {
  const base = issue.path.filter((s): s is string | number => typeof s !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const path = [...base, key];
    const candidates: readonly string[] = base.length === 0 ? CONFIG_KEYS : OVERRIDE_KEYS;
    return new UnknownConfigKey(formatPath(path), valueAt(layer.values, path), layer.sourceOf(path), suggest(key, candidates));
  }
  const field = formatPath(base);
  const source = layer.sourceOf(base);
  if (issue.code === 'custom' && issue.params?.['badKey'] === true) {
    // A preserve key that is not a regex: the key is the bad value; its mapping is the subject.
    const key = String(base.at(-1));
    const subject = `${formatPath(base.slice(0, -1))} key ${formatValue(key)}`;
    return invalidValue(field, undefined, key, source, issue.message, { subject });
  }
  return invalidValue(field, schemaKey(base), valueAt(layer.values, base), source, issue.message);
}

function validate(layer: Layer): void {
  const result = LayerSchema.safeParse(layer.values);
  const issue = result.error?.issues[0];
  if (issue) throw issueToError(issue, layer);
}

/** Drop keys whose value is undefined: an omitted option must not override a lower layer. */
function defined(values: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

function yamlLayer(file: string): Layer {
  const loaded = loadYamlConfig(file);
  return { values: loaded.data, sourceOf: (path) => ({ kind: 'yaml', file, ...loaded.locate(path) }) };
}

function envLayer(env: NodeJS.ProcessEnv): Layer {
  return {
    values: readEnv(env),
    sourceOf: (path) => ({ kind: 'env', variable: ENV_VARIABLES[path[0] as keyof typeof ENV_VARIABLES] ?? String(path[0]) }),
  };
}

function cliLayer(cli: CliValues, flags: Partial<Record<ConfigKey, string>>): Layer {
  const flagOf = (key: string) => flags[key as ConfigKey] ?? cliFlag(key);
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(defined(cli))) {
    const known = (CONFIG_KEYS as readonly string[]).includes(key);
    values[key] = known && typeof value === 'string' ? parseConfigText(key as ConfigKey, value, { kind: 'cli', flag: flagOf(key) }) : value;
  }
  return { values, sourceOf: (path) => ({ kind: 'cli', flag: flagOf(String(path[0])) }) };
}

/** Resolve the configuration; throws a named `ConfigurationError` for any invalid value. */
export function resolveConfig(options: ResolveOptions = {}): Resolution {
  const env = options.env ?? process.env;
  // Lowest precedence first.
  const layers: Layer[] = [];
  if (options.yamlPath !== undefined) layers.push(yamlLayer(options.yamlPath));
  layers.push(envLayer(env));
  if (options.api) layers.push({ values: defined(options.api), sourceOf: () => ({ kind: 'api' }) });
  if (options.cli) layers.push(cliLayer(options.cli, options.cliFlags ?? {}));
  for (const layer of layers) validate(layer);

  // The profile is chosen by the same precedence as any key (layers are valid, so it is a name).
  let profile: DeploymentProfile = DEFAULTS.deployment_profile;
  for (const layer of layers) {
    const named = layer.values['deployment_profile'];
    if (named !== undefined) profile = named as DeploymentProfile;
  }

  const merged: Record<string, unknown> = {};
  const owner = {} as Record<ConfigKey, Layer>;
  const sources = {} as ConfigSources;
  const profileLayer: Layer = { values: { ...PROFILES[profile] }, sourceOf: () => ({ kind: 'profile', profile }) };
  const defaultLayer: Layer = { values: { ...DEFAULTS }, sourceOf: () => ({ kind: 'default' }) };
  for (const key of CONFIG_KEYS) {
    const layer = isProfileKey(key) ? profileLayer : defaultLayer;
    [merged[key], owner[key], sources[key]] = [layer.values[key], layer, layer.sourceOf([key])];
  }
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.values)) {
      [merged[key], owner[key as ConfigKey], sources[key as ConfigKey]] = [value, layer, layer.sourceOf([key])];
    }
  }

  // Catches anything only wrong in combination, and types the result; blamed on the value's layer.
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? '') as ConfigKey;
    throw issueToError(issue, owner[key] ?? { values: merged, sourceOf: () => ({ kind: 'default' }) });
  }
  return { config: result.data, sources, warnings: envWarnings(env) };
}

/** One line per key: name, value, source, e.g. `bit_width  4  (profile "local")`. For --verbose. */
export function describeConfig(resolved: Pick<Resolution, 'config' | 'sources'>): string {
  const width = Math.max(...CONFIG_KEYS.map((k) => k.length));
  const values = CONFIG_KEYS.map((k) => JSON.stringify(resolved.config[k]) ?? 'undefined');
  const valueWidth = Math.max(...values.map((v) => v.length));
  return CONFIG_KEYS.map((k, i) => `${k.padEnd(width)}  ${values[i]!.padEnd(valueWidth)}  (${describeSource(resolved.sources[k])})`).join('\n');
}
