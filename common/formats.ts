/**
 * The format registry, as the kernels declare it (crates/kernels/src/formats/): which formats
 * exist, the config methods that select them, their bits, group sizes, row-length rules, GGUF
 * types and quality-gate ladders. TypeScript derives everything format-specific from here
 * instead of restating it; `docs/formats.json` is the same data for programs outside Node.
 */
import { describeFormat as nativeDescribe, formatRegistry, type FormatDescriptionJs, type FormatFamilyJs, type FormatSpec } from './native.js';
import { fromNative } from './errors.js';

export type FormatFamily = FormatFamilyJs;
export type FormatDescription = FormatDescriptionJs;

/** Every family, in the docs' order. */
export const FORMAT_FAMILIES: readonly FormatFamily[] = Object.freeze(formatRegistry());

/** The config `method` names that select a format directly (`rtn`, `rtn_sym`, `q4_0`, ...). */
export const FORMAT_METHODS: readonly string[] = Object.freeze(FORMAT_FAMILIES.flatMap((f) => f.methods));

/** The family a config method selects (undefined: not a format method, e.g. `gptq`, `auto`). */
export function familyOfMethod(method: string): FormatFamily | undefined {
  return FORMAT_FAMILIES.find((f) => f.methods.includes(method));
}

const described = new Map<string, FormatDescription>();

/**
 * The concrete format a spec names: a canonical name (`rtn_int4_g128_asym`, `q4_0`), or a method
 * with its parameters. Memoised: the planner asks once per tensor and rung.
 */
export function describeFormat(spec: FormatSpec | string): FormatDescription {
  const s: FormatSpec = typeof spec === 'string' ? { name: spec } : spec;
  const key = `${s.name}|${s.bits ?? ''}|${s.groupSize ?? ''}|${s.symmetric ?? ''}`;
  let d = described.get(key);
  if (d === undefined) {
    try {
      d = nativeDescribe(s);
    } catch (err) {
      throw fromNative(err);
    }
    described.set(key, d);
  }
  return d;
}
