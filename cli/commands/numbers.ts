/** Strict parsing of numeric flags (commander hands them over as strings). */
import { ConfigurationError } from '../../common/config/index.js';

export function parseCount(flag: string, text: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new ConfigurationError(`must be an integer ≥ ${min}`, flag.replace(/^--/, ''), text, { kind: 'cli', flag });
  return n;
}
