/**
 * Configuration errors. Each names the field, the offending value and where that value came from
 * (a YAML line, an environment variable, a flag), so the user can go straight to it. The class
 * names are the configuration guide's (InvalidBitWidth, ...); `String(err)` reads
 * `InvalidBitWidth: bit_width = 3 (config.yaml line 4): must be 2, 4 or 8`.
 */
import { ArrowQuantError } from '../errors.js';

/** Where a configuration value came from. YAML lines and columns are 1-based. */
export type ConfigSource =
  | { kind: 'yaml'; file: string; line: number; column: number }
  | { kind: 'env'; variable: string }
  | { kind: 'cli'; flag: string }
  | { kind: 'profile'; profile: string }
  | { kind: 'default' }
  | { kind: 'api' };

export function describeSource(source: ConfigSource): string {
  switch (source.kind) {
    case 'yaml':
      return `${source.file} line ${source.line}`;
    case 'env':
      return `environment variable ${source.variable}`;
    case 'cli':
      return `command-line flag ${source.flag}`;
    case 'profile':
      return `profile "${source.profile}"`;
    case 'default':
      return 'default';
    case 'api':
      return 'API option';
  }
}

/** A value as it appears in a message: strings quoted (so "4" and 4 differ), long objects cut. */
export function formatValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export interface ConfigErrorOptions {
  cause?: unknown;
  /** Replaces "field = value" at the head of the message (e.g. for a bad mapping key). */
  subject?: string;
}

export class ConfigurationError extends ArrowQuantError {
  override name = 'ConfigurationError';
  /** The key path, e.g. `bit_width` or `overrides[0].pattern`. */
  readonly field: string;
  readonly value: unknown;
  readonly source: ConfigSource;
  constructor(message: string, field: string, value: unknown, source: ConfigSource, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.field = field;
    this.value = value;
    this.source = source;
  }
}

function fieldMessage(field: string, value: unknown, source: ConfigSource, reason: string, subject?: string): string {
  const head = subject ?? (value === undefined ? field : `${field} = ${formatValue(value)}`);
  return `${head} (${describeSource(source)}): ${reason}`;
}

/** `reason` completes "field = value (source): ", e.g. "must be 2, 4 or 8". */
export class InvalidBitWidth extends ConfigurationError {
  override name = 'InvalidBitWidth';
  constructor(field: string, value: unknown, source: ConfigSource, reason: string, options?: ConfigErrorOptions) {
    super(fieldMessage(field, value, source, reason, options?.subject), field, value, source, options);
  }
}

export class InvalidTimeGroups extends ConfigurationError {
  override name = 'InvalidTimeGroups';
  constructor(field: string, value: unknown, source: ConfigSource, reason: string, options?: ConfigErrorOptions) {
    super(fieldMessage(field, value, source, reason, options?.subject), field, value, source, options);
  }
}

export class InvalidGroupSize extends ConfigurationError {
  override name = 'InvalidGroupSize';
  constructor(field: string, value: unknown, source: ConfigSource, reason: string, options?: ConfigErrorOptions) {
    super(fieldMessage(field, value, source, reason, options?.subject), field, value, source, options);
  }
}

export class InvalidAccuracy extends ConfigurationError {
  override name = 'InvalidAccuracy';
  constructor(field: string, value: unknown, source: ConfigSource, reason: string, options?: ConfigErrorOptions) {
    super(fieldMessage(field, value, source, reason, options?.subject), field, value, source, options);
  }
}

/** A bad value of any field without a class of its own. */
export class InvalidConfigValue extends ConfigurationError {
  override name = 'InvalidConfigValue';
  constructor(field: string, value: unknown, source: ConfigSource, reason: string, options?: ConfigErrorOptions) {
    super(fieldMessage(field, value, source, reason, options?.subject), field, value, source, options);
  }
}

/** A key the schema does not have; `suggestion` is the closest real key, if one is close. */
export class UnknownConfigKey extends ConfigurationError {
  override name = 'UnknownConfigKey';
  readonly suggestion: string | undefined;
  constructor(field: string, value: unknown, source: ConfigSource, suggestion?: string, options?: { cause?: unknown }) {
    const hint = suggestion === undefined ? '' : `; did you mean "${suggestion}"?`;
    super(`"${field}" (${describeSource(source)}) is not a configuration key${hint}`, field, value, source, options);
    this.suggestion = suggestion;
  }
}

/** The YAML file does not parse, or its top level is not a mapping. `field` is empty. */
export class InvalidYaml extends ConfigurationError {
  override name = 'InvalidYaml';
  readonly file: string;
  readonly line: number;
  readonly column: number;
  constructor(file: string, line: number, column: number, reason: string, options?: { cause?: unknown }) {
    super(`${file} line ${line}, column ${column}: ${reason}`, '', undefined, { kind: 'yaml', file, line, column }, options);
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

/** The named error for a bad value: chosen by the key the value sits under (also inside overrides). */
export function invalidValue(
  field: string,
  key: string | undefined,
  value: unknown,
  source: ConfigSource,
  reason: string,
  options?: ConfigErrorOptions,
): ConfigurationError {
  switch (key) {
    case 'bit_width':
      return new InvalidBitWidth(field, value, source, reason, options);
    case 'num_time_groups':
      return new InvalidTimeGroups(field, value, source, reason, options);
    case 'group_size':
      return new InvalidGroupSize(field, value, source, reason, options);
    case 'min_accuracy':
      return new InvalidAccuracy(field, value, source, reason, options);
    default:
      return new InvalidConfigValue(field, value, source, reason, options);
  }
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min(sub, prev[j]! + 1, cur[j - 1]! + 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The candidate a mistyped `word` most likely meant: the nearest by edit distance (ignoring case
 * and -/_), if within a third of its length (at least 2); else the only candidate that has `word`
 * as a whole _-separated prefix or suffix ("threads" -> "num_threads").
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replaceAll('-', '_');
  const w = norm(word);
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(w.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(w, norm(c));
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  if (best !== undefined || w.length < 4) return best;
  const affix = candidates.filter((c) => norm(c).startsWith(`${w}_`) || norm(c).endsWith(`_${w}`));
  return affix.length === 1 ? affix[0] : undefined;
}
