/**
 * Errors of the cluster settings. Each names the setting as its source spells it (a flag, an
 * environment variable, a YAML key and line), so the user can go straight to it; they are
 * ConfigurationErrors, so the CLI exits 2 on them.
 */
import { ConfigurationError, describeSource, formatValue, type ConfigSource } from '../../config/errors.js';

/** A value that is not valid for its setting. */
export class InvalidClusterSetting extends ConfigurationError {
  override name = 'InvalidClusterSetting';
  constructor(field: string, value: unknown, source: ConfigSource, reason: string, options?: { cause?: unknown }) {
    super(`${field} = ${formatValue(value)} (${describeSource(source)}): ${reason}`, field, value, source, options);
  }
}

/** A setting the service does not have; `suggestion` is the closest one, when one is close. */
export class UnknownClusterSetting extends ConfigurationError {
  override name = 'UnknownClusterSetting';
  constructor(field: string, value: unknown, source: ConfigSource, readonly suggestion?: string) {
    super(`"${field}" (${describeSource(source)}) is not a setting of this service${suggestion ? `; did you mean "${suggestion}"?` : ''}`, field, value, source);
  }
}

/** A required setting (or one of a required pair) that no layer gives. */
export class MissingClusterSetting extends ConfigurationError {
  override name = 'MissingClusterSetting';
  constructor(readonly keys: readonly string[], message: string) {
    super(message, keys[0] ?? '', undefined, { kind: 'default' });
  }
}

/** Settings that cannot be used together (TLS files with `insecure`). */
export class ConflictingClusterSettings extends ConfigurationError {
  override name = 'ConflictingClusterSettings';
  constructor(readonly keys: readonly string[], source: ConfigSource, message: string) {
    super(message, keys[0] ?? '', undefined, source);
  }
}
