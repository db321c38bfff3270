/**
 * The plan: every tensor of the model in model order (files in discovery order, tensors by data
 * offset), what happens to it and why, and its chunks. A chunk is a run of whole rows of the
 * tensor's 2-D view, at most `chunk_mib` of source bytes; groups run along rows, so any row
 * boundary is a group boundary. The plan depends only on the model and the resolved config,
 * which is what makes every executor produce the same file.
 */
import { ConfigurationError, compilePattern, type BitWidth, type Method, type Modality, type PreserveDtype, type ResolvedConfig } from '../../common/config/index.js';
import { layerFor, type CalibrationFile, type LayerStats } from '../calibration/file.js';
import { CalibrationError } from '../calibration/errors.js';
import { view2d } from '../../common/format/view.js';
import { DTYPE_BYTES } from '../../common/format/dtypes.js';
import type { ModelFile } from '../model/discover.js';
import type { SafetensorsHeader } from '../model/safetensors.js';
import { describeFormat } from '../../common/formats.js';
import { importanceFor, type ImportanceMatrix } from '../calibration/imatrix.js';
import { nameKeep, structuralKeep } from './keep-rules.js';
import { mixFormat, mixRole, type MixContext } from './mixes.js';
import { tensorRole, type TensorRole } from './roles.js';
import { fallbackLadder, fitsRow, methodBits, schemeFor, type ConcreteMethod, type SchemeChoice } from './schemes.js';
import { entryLabel, rowEntry, rowLabel, STRATEGY_TABLE } from './strategy.js';

export interface Chunk {
  chunkIndex: number;
  rowStart: number;
  rowCount: number;
  /** Absolute file offset and length of the chunk's source bytes. */
  offset: number;
  length: number;
}

/** How a quantized tensor uses the calibration file (absent: it does not). */
export interface LayerUse {
  stats: LayerStats;
  /** GPTQ with the layer's Hessian (on the rungs marked `calibrated`). */
  hessian: boolean;
  /** Search spatial-smoothing factors (needs act_absmax). */
  smoothing: boolean;
  /** Store per-timestep-group activation parameters. */
  timeAware: boolean;
  /** Measure the layer-output figures with the layer's Hessian (what `min_accuracy` then judges). */
  measure: boolean;
}

/**
 * Per-column importance for formats that weigh their search by it (the K-quants and
 * q4_0/q4_1/q5_0/q5_1), where no GPTQ runs: an imatrix entry, or the calibration Hessian's
 * diagonal, or (`uniform_importance`, where neither gives one) 1 for every column, as
 * stable-diffusion.cpp's convert quantizes.
 */
export type ImportanceUse = { source: 'imatrix'; values: Float32Array } | { source: 'hessian'; stats: LayerStats } | { source: 'uniform' };

const IMPORTANCE_SOURCES: Record<ImportanceUse['source'], string> = {
  imatrix: 'the imatrix',
  hessian: 'the calibration Hessian',
  uniform: "uniform (1 per column, stable-diffusion.cpp's convert)",
};

export type TensorAction =
  | { kind: 'keep'; storeDtype: PreserveDtype; rule: string; reason: string }
  | {
      kind: 'quantize';
      ladder: SchemeChoice[];
      requestedBits: number;
      rule: string;
      reason: string;
      layer?: LayerUse;
      importance?: ImportanceUse;
      /** The tensor's role as the K-quant mixes see it. */
      role?: TensorRole;
    };

export interface TensorPlan {
  index: number;
  name: string;
  component?: string;
  file: ModelFile;
  dtype: string;
  shape: number[];
  /** 2-D view (common/format/view.ts): rows = first dim, cols = the rest; 0-D/1-D: [elements, 1]. */
  rows: number;
  cols: number;
  offset: number;
  bytes: number;
  action: TensorAction;
  chunks: Chunk[];
}

export interface Plan {
  tensors: TensorPlan[];
  sourceBytes: number;
  /** Tensors whose method wanted calibration they did not get, and what they use instead. */
  calibrationWarnings: { tensor: string; message: string }[];
  /** `method: auto`: the strategy-table rows used (plan/strategy.ts's labels) and their tensors. */
  autoRows: Record<string, number>;
}

export interface PlanContext {
  modality: Modality;
  calibration?: CalibrationFile;
  /** A llama.cpp importance matrix (`imatrix`). */
  imatrix?: ImportanceMatrix;
  /** What the K-quant mixes need to know of the model (GQA factor). */
  mix?: MixContext;
}

/** A tensor's place among the tensors of its role in its component (the mixes' counters). */
interface RoleSlot {
  role: TensorRole;
  i: number;
  n: number;
  /** Its component has no output head (mixes.ts: tied embeddings). */
  tiedEmbeddings: boolean;
}

export { view2d };

export function chunksOf(rows: number, cols: number, elemBytes: number, offset: number, chunkBytes: number): Chunk[] {
  const rowBytes = cols * elemBytes;
  const perChunk = Math.max(1, Math.floor(chunkBytes / Math.max(1, rowBytes)));
  const chunks: Chunk[] = [];
  for (let r = 0; r < rows || chunks.length === 0; r += perChunk) {
    const n = Math.min(perChunk, rows - r);
    chunks.push({ chunkIndex: chunks.length, rowStart: r, rowCount: Math.max(0, n), offset: offset + r * rowBytes, length: Math.max(0, n) * rowBytes });
    if (rows === 0) break;
  }
  return chunks;
}

interface CompiledRules {
  preserve: [RegExp, PreserveDtype][];
  overrides: { pattern: RegExp; bit_width?: number; method?: Method; group_size?: number; quantize?: boolean }[];
}

function compile(config: ResolvedConfig): CompiledRules {
  return {
    preserve: Object.entries(config.preserve).map(([p, d]) => [compilePattern(p), d as PreserveDtype]),
    overrides: config.overrides.map((o) => ({ ...o, pattern: compilePattern(o.pattern) })),
  };
}

/**
 * What happens to one tensor, in this order: non-float dtypes are carried through; a `preserve`
 * rule keeps the tensor (in the dtype it names); 1-D and tiny tensors are kept; the first
 * matching `overrides` entry sets method/bits/group (and with `quantize: true` overrides the name
 * rules); otherwise the built-in name rules keep embedders, adaLN and output layers; the rest is
 * quantized with the configured method.
 */
interface Decision {
  action: TensorAction;
  warning?: string;
  /** The strategy-table row `auto` used (its label). */
  autoRow?: string;
}

function decide(
  name: string,
  component: string | undefined,
  dtype: string,
  shape: number[],
  cols: number,
  config: ResolvedConfig,
  rules: CompiledRules,
  ctx: PlanContext,
  slot: RoleSlot,
): Decision {
  const keep = (action: TensorAction): Decision => ({ action });
  // A layer's statistics must fit its weight, whatever happens to the tensor: a mismatch means
  // the file was captured from another model.
  const calibrated = ctx.calibration ? layerFor(ctx.calibration, name, component) : undefined;
  if (calibrated && calibrated.inFeatures >= 0 && calibrated.inFeatures !== cols) {
    throw new CalibrationError(ctx.calibration!.path, `has ${calibrated.inFeatures} input features but the model's "${name}" has ${cols} (shape [${shape.join(', ')}]): calibration captured from another model?`, calibrated.prefix);
  }
  const structural = structuralKeep(dtype, shape);
  if (structural?.rule === 'dtype') return keep({ kind: 'keep', storeDtype: 'source', ...structural });
  for (const [re, storeDtype] of rules.preserve) {
    if (re.test(name)) return keep({ kind: 'keep', storeDtype, rule: 'preserve', reason: `preserve rule /${re.source}/ → ${storeDtype}` });
  }
  const comp = component !== undefined ? config.components[component] : undefined;
  if (comp === 'keep') return keep({ kind: 'keep', storeDtype: 'source', rule: 'component', reason: `components.${component}: keep` });
  if (structural) return keep({ kind: 'keep', storeDtype: 'source', ...structural });
  const override = rules.overrides.find((o) => o.pattern.test(name));
  if (config.keep_default_rules && !override?.quantize) {
    const byName = nameKeep(name);
    if (byName) return keep({ kind: 'keep', storeDtype: 'source', ...byName });
  }
  const requested: Method = override?.method ?? comp?.method ?? config.method;
  const bitWidth = (override?.bit_width ?? comp?.bit_width ?? config.bit_width) as BitWidth;
  let groupSize = override?.group_size ?? comp?.group_size ?? config.group_size;
  let reason = override ? `override /${override.pattern.source}/` : comp ? `components.${component}` : 'default';
  const stats = calibrated;
  const hessian = stats?.hessian !== undefined;

  // `auto`: the strategy table's row for the modality at the bit width, with or without the
  // layer's Hessian; the tensor takes the row's first format its rows fit. A memory budget
  // chooses the widths itself, over RTN; a mix chooses the formats itself (GPTQ onto them where
  // the layer has a Hessian).
  const mixWins = config.mix !== null && override?.method === undefined && comp?.method === undefined;
  const strategy = requested === 'auto' && !mixWins ? STRATEGY_TABLE[ctx.modality] : undefined;
  let autoRow: string | undefined;
  let autoTarget: string | undefined;
  let method: ConcreteMethod;
  if (requested === 'auto' && mixWins) {
    method = hessian ? 'gptq' : 'rtn'; // the mix's format replaces rtn below
    reason += `; auto with mix ${config.mix}: ${hessian ? 'GPTQ onto the mix\'s format' : 'the mix\'s format'}`;
  } else if (strategy && config.target_memory_gb != null) {
    method = 'rtn';
    reason += '; auto with target_memory_gb: rtn (the budget gives each tensor 2, 4 or 8 bits)';
  } else if (strategy) {
    // Importance (the Hessian's diagonal, or an imatrix) for the formats that weigh by it.
    const importance = hessian || ctx.imatrix !== undefined;
    autoRow = rowLabel(ctx.modality, bitWidth, hessian, groupSize, importance);
    reason += `; ${autoRow}`;
    const fit = rowEntry(ctx.modality, bitWidth, hessian, groupSize, cols, ggmlRow(shape));
    if (fit === undefined) return keep({ kind: 'keep', storeDtype: 'source', rule: 'row-length', reason: `${reason}; no format of the row fits rows of ${cols}: kept` });
    if (fit.index > 0) reason += `; rows of ${cols}: ${entryLabel(fit.entry, bitWidth, groupSize, importance)}`;
    method = fit.entry.method;
    autoTarget = fit.entry.onto;
    groupSize = fit.entry.groupSize ?? groupSize;
  } else {
    method = requested as ConcreteMethod;
  }

  // A mix picks the format by role; an explicit method for these tensors (override, component)
  // wins over it.
  const mix = override?.method !== undefined || comp?.method !== undefined || strategy ? null : config.mix;
  const mixed = mix ? mixFormat(mix, slot.role, slot.i, slot.n, { nGqa: ctx.mix?.nGqa ?? 1, tiedEmbeddings: slot.tiedEmbeddings, imatrix: ctx.imatrix !== undefined }) : undefined;
  if (mix && mixed) reason += `; mix ${mix}: ${slot.role} ${slot.i + 1}/${slot.n} → ${mixed}`;
  // What GPTQ quantizes onto, and what a layer without a Hessian gets instead.
  const gptqTarget = strategy ? autoTarget : (mixed ?? config.gptq_format ?? undefined);
  if (mixed && method !== 'gptq') method = mixed;

  let warning: string | undefined;
  const noHessian = method === 'gptq' && !hessian;
  if (noHessian) {
    method = gptqTarget ?? 'rtn';
    reason += `; no calibration Hessian for this layer: ${method}`;
  }
  const wantedGptq = method === 'gptq';
  let first = schemeFor(method, methodBits(method, bitWidth), groupSize, hessian, gptqTarget);
  // Rows that do not split into the format's blocks take the format the registry names for them
  // (llama.cpp's: Q4_K → Q5_0, ...), and are kept where none fits.
  // A GGUF format's blocks must also be ggml rows (the last axis: a conv kernel [O, I, 3, 3] has
  // rows of 3), or the tensor could not be exported; such tensors are kept, as llama.cpp's and
  // stable-diffusion.cpp's converters keep them.
  const rowOf = (c: SchemeChoice) => (describeFormat(c.scheme).gguf != null ? ggmlRow(shape) : cols);
  while (!fitsRow(first, rowOf(first))) {
    const d = describeFormat(first.scheme);
    const what = rowOf(first) === cols ? `row length ${cols}` : `ggml row: the last axis, ${rowOf(first)}`;
    if (d.rowFallback == null) {
      return keep({ kind: 'keep', storeDtype: 'source', rule: 'row-length', reason: `${reason}; ${first.scheme} needs rows divisible by ${d.rowMultiple} (${what}): kept` });
    }
    reason += `; ${first.scheme} needs rows divisible by ${d.rowMultiple} (${what}): ${d.rowFallback}`;
    first = schemeFor(d.rowFallback, methodBits(d.rowFallback, bitWidth), groupSize);
  }
  // Said once the row fit is known, with the format the tensor really gets.
  if (noHessian) {
    warning = `no calibration Hessian for this layer${ctx.calibration ? ` in ${ctx.calibration.path}` : ''}; quantized with ${first.scheme} instead of gptq`;
  } else if (strategy && autoRow !== undefined && ctx.calibration && !hessian) {
    warning = `no calibration Hessian for this layer in ${ctx.calibration.path}; quantized with ${first.scheme} (auto's row without a Hessian)`;
  } else if (wantedGptq && !first.calibrated) {
    warning = `rows of ${cols} do not fit ${gptqTarget}; quantized with ${first.scheme} (its row fallback), which GPTQ cannot target`;
  }
  const gguf = describeFormat(first.scheme).gguf != null;
  // GGUF has no place for channel scales: smoothing would make the file unexportable.
  const spatial = (strategy ? strategy.spatial && config.enable_spatial : config.enable_spatial) && !gguf;
  const timeAware = strategy ? strategy.timeAware && config.enable_time_aware : config.enable_time_aware;
  const layer: LayerUse | undefined = stats
    ? {
        stats,
        hessian: hessian && first.calibrated,
        smoothing: spatial && stats.act_absmax !== undefined,
        timeAware: timeAware && (stats.act_range !== undefined || (spatial && stats.act_absmax !== undefined)),
        measure: stats.hessian !== undefined,
      }
    : undefined;
  const uses = layer && (layer.hessian || layer.smoothing || layer.timeAware || layer.measure);
  const importance = importanceOf(name, cols, first, stats, ctx, config.uniform_importance);
  if (importance) reason += `; importance from ${IMPORTANCE_SOURCES[importance.source]}`;
  const action: TensorAction = {
    kind: 'quantize',
    ladder: fallbackLadder(first),
    requestedBits: first.bits,
    rule: override ? 'override' : comp ? 'component' : mix ? 'mix' : 'default',
    reason,
    ...(uses ? { layer } : {}),
    ...(importance ? { importance } : {}),
    ...(mix ? { role: slot.role } : {}),
  };
  return { action, ...(warning !== undefined ? { warning } : {}), ...(autoRow !== undefined ? { autoRow } : {}) };
}

/**
 * Importance for the first rung, where its format weighs its search by it and no GPTQ runs: the
 * imatrix's entry when a file is given, else the calibration Hessian's diagonal; where neither
 * gives one, 1 per column with `uniform`.
 */
function importanceOf(name: string, cols: number, first: SchemeChoice, stats: LayerStats | undefined, ctx: PlanContext, uniform: boolean): ImportanceUse | undefined {
  if (first.calibrated || !describeFormat(first.scheme).importance) return undefined;
  const values = ctx.imatrix ? importanceFor(ctx.imatrix, name, cols) : undefined;
  if (values) return { source: 'imatrix', values };
  if (!ctx.imatrix && stats?.hessian) return { source: 'hessian', stats };
  return uniform ? { source: 'uniform' } : undefined;
}

/** ggml's row: the last axis (what a GGUF block format's blocks run along). */
const ggmlRow = (shape: readonly number[]) => (shape.length === 0 ? 1 : shape[shape.length - 1]!);

/**
 * Each tensor's role and its place among its component's tensors of that role, counted as
 * llama.cpp counts them: in its file order, which sorts by block number, where every tensor of the
 * role has its own layer number (a checkpoint's files list `layers.10` before `layers.2`); else in
 * model order.
 */
function roleSlots(headers: { file: ModelFile; header: SafetensorsHeader }[]): RoleSlot[] {
  const all = headers.flatMap(({ file, header }) =>
    header.tensors.map((t) => {
      const r = tensorRole(t.name);
      return { component: file.component ?? '', role: r.role, layer: r.layer, key: `${file.component ?? ''}|${mixRole(r.role)}` };
    }),
  );
  const withHead = new Set(all.filter((r) => r.role === 'output').map((r) => r.component));
  const groups = new Map<string, number[]>();
  all.forEach((r, idx) => {
    const g = groups.get(r.key);
    if (g) g.push(idx);
    else groups.set(r.key, [idx]);
  });
  const slots: RoleSlot[] = new Array(all.length);
  for (const idxs of groups.values()) {
    const layers = idxs.map((idx) => all[idx]!.layer);
    const byLayer = layers.every((l) => l !== undefined) && new Set(layers).size === layers.length;
    const ordered = byLayer ? [...idxs].sort((a, b) => all[a]!.layer! - all[b]!.layer!) : idxs;
    ordered.forEach((idx, i) => {
      const r = all[idx]!;
      slots[idx] = { role: r.role, i, n: idxs.length, tiedEmbeddings: !withHead.has(r.component) };
    });
  }
  return slots;
}

export function planModel(headers: { file: ModelFile; header: SafetensorsHeader }[], config: ResolvedConfig, ctx: PlanContext = { modality: 'image' }): Plan {
  const rules = compile(config);
  const present = [...new Set(headers.map((h) => h.file.component).filter((c): c is string => c !== undefined))];
  for (const name of Object.keys(config.components)) {
    if (!present.includes(name)) {
      const has = present.length ? `it has ${present.join(', ')}` : 'it is not a diffusers pipeline';
      throw new ConfigurationError(`components.${name}: the model has no component "${name}" (${has})`, `components.${name}`, config.components[name], { kind: 'api' });
    }
  }
  const chunkBytes = config.chunk_mib * 1024 * 1024;
  const tensors: TensorPlan[] = [];
  const calibrationWarnings: Plan['calibrationWarnings'] = [];
  const autoRows: Plan['autoRows'] = {};
  let sourceBytes = 0;
  const slots = roleSlots(headers);
  for (const { file, header } of headers) {
    for (const t of header.tensors) {
      const { rows, cols } = view2d(t.shape);
      const { action, warning, autoRow } = decide(t.name, file.component, t.dtype, t.shape, cols, config, rules, ctx, slots[tensors.length]!);
      if (autoRow !== undefined) autoRows[autoRow] = (autoRows[autoRow] ?? 0) + 1;
      if (warning !== undefined) calibrationWarnings.push({ tensor: file.component !== undefined ? `${file.component}/${t.name}` : t.name, message: warning });
      tensors.push({
        index: tensors.length,
        name: t.name,
        ...(file.component !== undefined ? { component: file.component } : {}),
        file,
        dtype: t.dtype,
        shape: t.shape,
        rows,
        cols,
        offset: t.begin,
        bytes: t.end - t.begin,
        action,
        chunks: chunksOf(rows, cols, DTYPE_BYTES[t.dtype]!, t.begin, chunkBytes),
      });
      sourceBytes += t.end - t.begin;
    }
  }
  return { tensors, sourceBytes, calibrationWarnings, autoRows };
}
