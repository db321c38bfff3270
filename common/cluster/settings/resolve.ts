/**
 * Resolving a service's settings from its layers. Precedence, highest first: command-line flags,
 * `ARROW_QUANT_<SERVICE>_<KEY>` environment variables, the YAML file (`--config`), the defaults
 * in keys.ts: the quantize configuration's order. Every value is checked against its setting's
 * schema in the layer it was written in, so an error names that place.
 */
import type { ConfigSource } from '../../config/errors.js';
import { suggest } from '../../config/errors.js';
import { loadYamlConfig } from '../../config/yaml.js';
import { InvalidClusterSetting, UnknownClusterSetting } from './errors.js';
import type { SettingSpec, SettingsOf, Specs } from './keys.js';

export type Service = 'coordinator' | 'worker' | 'client';

export interface SettingsInput {
  /** Flag values as the command-line parser hands them over (strings, or true for a switch); undefined: not given. */
  flags?: Record<string, unknown>;
  /** Defaults to process.env; pass {} to ignore the environment. */
  env?: NodeJS.ProcessEnv;
  yamlPath?: string;
}

export interface ResolvedSettings<S extends Specs> {
  values: SettingsOf<S>;
  /** Where each key's value came from (absent: not set, and no default). */
  sources: Partial<Record<keyof S & string, ConfigSource>>;
  /** Non-fatal: environment variables that look like a misspelt setting. */
  warnings: string[];
  /** The key as the user writes it where its value came from (`--tls-cert`, `ARROW_QUANT_WORKER_TLS_CERT`, `tls_cert`). */
  spell(key: keyof S & string): string;
}

/** `--kebab-case` */
export function flagOf(key: string): string {
  return `--${key.replaceAll('_', '-')}`;
}

/** `ARROW_QUANT_WORKER_TLS_CERT` */
export function envVariable(service: Service, key: string): string {
  return `ARROW_QUANT_${service.toUpperCase()}_${key.toUpperCase()}`;
}

const TRUE = new Set(['true', '1', 'yes']);
const FALSE = new Set(['false', '0', 'no']);

/** A setting written as text (a flag, a variable): parsed strictly, then checked by its schema. */
function fromText(key: string, spec: SettingSpec, raw: string, source: ConfigSource): unknown {
  const t = raw.trim();
  const bad = (reason: string) => new InvalidClusterSetting(key, raw, source, reason);
  switch (spec.text) {
    case 'count':
      if (!/^[+-]?\d+$/.test(t)) throw bad('must be an integer of at least 1');
      return Number(t);
    case 'bool':
      if (TRUE.has(t.toLowerCase())) return true;
      if (FALSE.has(t.toLowerCase())) return false;
      throw bad('must be true or false (also 1/0, yes/no)');
    case 'list':
      return t.split(',').map((s) => s.trim()).filter(Boolean);
    case 'string':
      return t;
  }
}

function checked(key: string, spec: SettingSpec, value: unknown, source: ConfigSource): unknown {
  const r = spec.schema.safeParse(value);
  if (!r.success) throw new InvalidClusterSetting(key, value, source, r.error.issues[0]?.message ?? 'invalid');
  return r.data;
}

type Layer = [key: string, value: unknown, source: ConfigSource][];

function yamlLayer(specs: Specs, file: string): Layer {
  const loaded = loadYamlConfig(file);
  return Object.entries(loaded.data).map(([key, value]) => {
    const source: ConfigSource = { kind: 'yaml', file, ...loaded.locate([key]) };
    const spec = specs[key];
    if (!spec) throw new UnknownClusterSetting(key, value, source, suggest(key, Object.keys(specs)));
    // A list may also be written as one comma-separated string, as on the command line.
    const v = spec.text === 'list' && typeof value === 'string' ? fromText(key, spec, value, source) : value;
    return [key, checked(key, spec, v, source), source];
  });
}

function envLayer(specs: Specs, service: Service, env: NodeJS.ProcessEnv): Layer {
  const out: Layer = [];
  for (const [key, spec] of Object.entries(specs)) {
    const variable = envVariable(service, key);
    const raw = env[variable];
    if (raw === undefined) continue;
    const source: ConfigSource = { kind: 'env', variable };
    out.push([key, checked(key, spec, fromText(key, spec, raw, source), source), source]);
  }
  return out;
}

function flagLayer(specs: Specs, flags: Record<string, unknown>): Layer {
  const out: Layer = [];
  for (const [key, value] of Object.entries(flags)) {
    const spec = specs[key];
    if (value === undefined || !spec) continue;
    const source: ConfigSource = { kind: 'cli', flag: flagOf(key) };
    out.push([key, checked(key, spec, typeof value === 'string' ? fromText(key, spec, value, source) : value, source), source]);
  }
  return out;
}

/** `ARROW_QUANT_<SERVICE>_*` variables that are no setting but look like a misspelt one. */
function envWarnings(specs: Specs, service: Service, env: NodeJS.ProcessEnv): string[] {
  const prefix = envVariable(service, '');
  const keys = Object.keys(specs);
  const warnings: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith(prefix) || keys.some((k) => envVariable(service, k) === name)) continue;
    const near = suggest(name.slice(prefix.length).toLowerCase(), keys);
    warnings.push(`environment variable ${name} is not a ${service} setting${near ? `; did you mean ${envVariable(service, near)}?` : ''}`);
  }
  return warnings;
}

export function resolveSettings<S extends Specs>(specs: S, service: Service, input: SettingsInput = {}): ResolvedSettings<S> {
  const env = input.env ?? process.env;
  const values: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};
  for (const [key, spec] of Object.entries(specs)) {
    if (spec.default === undefined) continue;
    values[key] = spec.default;
    sources[key] = { kind: 'default' };
  }
  // Lowest precedence first; a later layer replaces a key's whole value.
  const layers = [input.yamlPath !== undefined ? yamlLayer(specs, input.yamlPath) : [], envLayer(specs, service, env), flagLayer(specs, input.flags ?? {})];
  for (const layer of layers) {
    for (const [key, value, source] of layer) {
      values[key] = value;
      sources[key] = source;
    }
  }
  const spell = (key: string): string => {
    const s = sources[key];
    if (s?.kind === 'env') return s.variable;
    if (s?.kind === 'yaml') return `${key} (${s.file} line ${s.line})`;
    // Not set anywhere, or set by a flag: the CLI is how these services are started.
    return flagOf(key);
  };
  // Every value was checked against its own schema above (or is that schema's default).
  return { values: values as SettingsOf<S>, sources: sources as ResolvedSettings<S>['sources'], warnings: envWarnings(specs, service, env), spell };
}
