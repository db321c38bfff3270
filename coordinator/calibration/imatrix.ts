/**
 * llama.cpp importance matrices (`llama-imatrix` output), the per-column importance the GGUF
 * formats weigh their search by: for every linear layer, the mean of x² of each input column over
 * the calibration tokens. Both formats llama.cpp writes are read, normalised as llama-quantize
 * normalises them (tools/quantize/quantize.cpp):
 *
 * - GGUF (current): `general.type = "imatrix"`, per layer `<name>.in_sum2` (f32 `[cols, nmat]`,
 *   raw sums of x²) and `<name>.counts` (f32 `[1, nmat]`, tokens per matrix); importance =
 *   in_sum2 / count (1 where the count is 0).
 * - Legacy `.dat`: i32 entry count; per entry i32 name length, name, i32 `ncall`, i32 value count,
 *   f32 values (already mean·ncall); then i32 chunk count and the dataset name. Importance =
 *   values / ncall.
 *
 * Entries are keyed by llama.cpp's GGUF tensor names (`blk.0.attn_q.weight`); {@link ggufTensorName}
 * maps the Hugging Face names of the Llama-family models (Dream, Qwen2, Llama, LLaDA) to them,
 * and a tensor is also looked up under its own name (imatrices of GGUF files that keep the
 * source's names, as the diffusion GGUF tools do).
 *
 * The GGUF container is parsed here (header, metadata skipped by type, tensor infos, aligned
 * data): only f32 tensors are needed, and no npm GGUF package reads tensor data from a local
 * file without pulling in a fetch-based loader.
 */
import { open } from 'node:fs/promises';

import { CalibrationError } from './errors.js';

export interface ImportanceMatrix {
  path: string;
  format: 'gguf' | 'dat';
  /** Entry name → importance (mean x² per input column). */
  entries: Map<string, Float32Array>;
  /** Calibration chunks it was computed on, when the file says. */
  chunks?: number;
  datasets: string[];
}

class Cursor {
  constructor(
    private readonly buf: Buffer,
    private readonly path: string,
    public pos = 0,
  ) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new CalibrationError(this.path, `truncated imatrix file (needs ${this.pos + n} bytes, has ${this.buf.length})`);
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CalibrationError(this.path, `implausible size ${v} at byte ${this.pos - 8}`);
    return Number(v);
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  str(len: number): string {
    return this.bytes(len).toString('utf8');
  }
  f32s(n: number): Float32Array {
    const b = this.bytes(4 * n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = b.readFloatLE(4 * i);
    return out;
  }
}

/** GGUF metadata value types (gguf.h). */
const GGUF = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;
const GGML_F32 = 0;

function ggufValue(c: Cursor, type: number, path: string): unknown {
  switch (type) {
    case GGUF.U8:
    case GGUF.I8:
    case GGUF.BOOL:
      return c.bytes(1)[0];
    case GGUF.U16:
    case GGUF.I16:
      return c.bytes(2).readUInt16LE(0);
    case GGUF.U32:
      return c.u32();
    case GGUF.I32:
      return c.i32();
    case GGUF.F32:
      return c.bytes(4).readFloatLE(0);
    case GGUF.U64:
    case GGUF.I64:
      return c.u64();
    case GGUF.F64:
      return c.bytes(8).readDoubleLE(0);
    case GGUF.STRING:
      return c.str(c.u64());
    case GGUF.ARRAY: {
      const elem = c.u32();
      const n = c.u64();
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(ggufValue(c, elem, path));
      return out;
    }
    default:
      throw new CalibrationError(path, `unknown GGUF metadata type ${type}`);
  }
}

function parseGguf(buf: Buffer, path: string): ImportanceMatrix {
  const c = new Cursor(buf, path, 4);
  const version = c.u32();
  if (version < 2 || version > 3) throw new CalibrationError(path, `GGUF version ${version} (this reader knows 2 and 3)`);
  const nTensors = c.u64();
  const nKv = c.u64();
  const meta = new Map<string, unknown>();
  for (let i = 0; i < nKv; i++) {
    const key = c.str(c.u64());
    meta.set(key, ggufValue(c, c.u32(), path));
  }
  if (meta.get('general.type') !== 'imatrix') {
    throw new CalibrationError(path, `is a GGUF file but not an importance matrix (general.type = ${JSON.stringify(meta.get('general.type') ?? null)}); llama-imatrix writes general.type = "imatrix"`);
  }
  const infos: { name: string; dims: number[]; type: number; offset: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.str(c.u64());
    const nd = c.u32();
    const dims = Array.from({ length: nd }, () => c.u64());
    infos.push({ name, dims, type: c.u32(), offset: c.u64() });
  }
  const alignment = typeof meta.get('general.alignment') === 'number' ? (meta.get('general.alignment') as number) : 32;
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  const tensor = (name: string) => {
    const t = infos.find((x) => x.name === name);
    if (!t) return undefined;
    if (t.type !== GGML_F32) throw new CalibrationError(path, `tensor type ${t.type}, expected f32`, name);
    const n = t.dims.reduce((a, b) => a * b, 1);
    return { dims: t.dims, values: new Cursor(buf, path, dataStart + t.offset).f32s(n) };
  };
  const entries = new Map<string, Float32Array>();
  for (const info of infos) {
    if (!info.name.endsWith('.in_sum2')) continue;
    const name = info.name.slice(0, -'.in_sum2'.length);
    const sums = tensor(info.name)!;
    const counts = tensor(`${name}.counts`);
    if (!counts) throw new CalibrationError(path, `has no "${name}.counts" beside its sums`, info.name);
    const nmat = counts.values.length;
    const ne0 = sums.values.length / Math.max(1, nmat);
    if (!Number.isInteger(ne0)) throw new CalibrationError(path, `${sums.values.length} sums do not split into ${nmat} matrices`, info.name);
    const imp = new Float32Array(sums.values.length);
    for (let j = 0; j < nmat; j++) {
      const count = counts.values[j]!;
      for (let i = 0; i < ne0; i++) imp[j * ne0 + i] = count > 0 ? sums.values[j * ne0 + i]! / count : 1;
    }
    entries.set(name, imp);
  }
  const datasets = Array.isArray(meta.get('imatrix.datasets')) ? (meta.get('imatrix.datasets') as unknown[]).map(String) : [];
  const chunks = meta.get('imatrix.chunk_count');
  return { path, format: 'gguf', entries, datasets, ...(typeof chunks === 'number' ? { chunks } : {}) };
}

function parseDat(buf: Buffer, path: string): ImportanceMatrix {
  const c = new Cursor(buf, path);
  const n = c.i32();
  if (n <= 0 || n > 1_000_000) throw new CalibrationError(path, `is neither a GGUF imatrix nor a legacy .dat one (entry count ${n})`);
  const entries = new Map<string, Float32Array>();
  for (let e = 0; e < n; e++) {
    const len = c.i32();
    if (len <= 0 || len > 4096) throw new CalibrationError(path, `entry ${e}: implausible name length ${len} (not a legacy imatrix file?)`);
    const name = c.str(len);
    const ncall = c.i32();
    const nval = c.i32();
    if (nval < 0) throw new CalibrationError(path, `negative value count ${nval}`, name);
    const values = c.f32s(nval);
    if (ncall > 0) for (let i = 0; i < nval; i++) values[i] = values[i]! / ncall;
    entries.set(name, values);
  }
  let chunks: number | undefined;
  const datasets: string[] = [];
  if (c.pos + 4 <= buf.length) {
    chunks = c.i32();
    if (c.pos + 4 <= buf.length) {
      const len = c.i32();
      if (len > 0 && c.pos + len <= buf.length) datasets.push(c.str(len));
    }
  }
  return { path, format: 'dat', entries, datasets, ...(chunks !== undefined ? { chunks } : {}) };
}

/** Read an importance matrix written by llama-imatrix (GGUF or legacy `.dat`). */
export async function readImatrix(path: string): Promise<ImportanceMatrix> {
  let buf: Buffer;
  try {
    const f = await open(path, 'r');
    try {
      buf = await f.readFile();
    } finally {
      await f.close();
    }
  } catch (cause) {
    throw new CalibrationError(path, `cannot read the importance matrix: ${(cause as Error).message}`, undefined, { cause });
  }
  const m = buf.length >= 4 && buf.toString('latin1', 0, 4) === 'GGUF' ? parseGguf(buf, path) : parseDat(buf, path);
  for (const [name, v] of m.entries) {
    const bad = v.findIndex((x) => !(Number.isFinite(x) && x >= 0));
    if (bad >= 0) throw new CalibrationError(path, `importance ${v[bad]} at column ${bad} (must be finite and ≥ 0)`, name);
  }
  return m;
}

/** llama.cpp's GGUF tensor names for the Hugging Face names of Llama-family LLMs (Llama, Qwen2,
 * Dream; LLaDA's `transformer.blocks`), as convert_hf_to_gguf.py maps them. */
const HF_TO_GGUF: readonly [RegExp, string][] = [
  [/^model\.embed_tokens\.weight$/, 'token_embd.weight'],
  [/^lm_head\.weight$/, 'output.weight'],
  [/^model\.norm\.weight$/, 'output_norm.weight'],
  [/^model\.layers\.(\d+)\.self_attn\.(q|k|v)_proj\.(weight|bias)$/, 'blk.$1.attn_$2.$3'],
  [/^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$/, 'blk.$1.attn_output.weight'],
  [/^model\.layers\.(\d+)\.mlp\.(gate|up|down)_proj\.weight$/, 'blk.$1.ffn_$2.weight'],
  [/^model\.transformer\.wte\.weight$/, 'token_embd.weight'],
  [/^model\.transformer\.ff_out\.weight$/, 'output.weight'],
  [/^model\.transformer\.blocks\.(\d+)\.(q|k|v)_proj\.weight$/, 'blk.$1.attn_$2.weight'],
  [/^model\.transformer\.blocks\.(\d+)\.attn_out\.weight$/, 'blk.$1.attn_output.weight'],
  [/^model\.transformer\.blocks\.(\d+)\.ff_proj\.weight$/, 'blk.$1.ffn_gate.weight'],
  [/^model\.transformer\.blocks\.(\d+)\.up_proj\.weight$/, 'blk.$1.ffn_up.weight'],
  [/^model\.transformer\.blocks\.(\d+)\.ff_out\.weight$/, 'blk.$1.ffn_down.weight'],
];

export function ggufTensorName(name: string): string | undefined {
  for (const [re, to] of HF_TO_GGUF) if (re.test(name)) return name.replace(re, to);
  return undefined;
}

/** The importance of one tensor (`cols` input columns), or undefined when the file has none for it. */
export function importanceFor(m: ImportanceMatrix, name: string, cols: number): Float32Array | undefined {
  const key = [name, ggufTensorName(name)].find((k) => k !== undefined && m.entries.has(k));
  if (key === undefined) return undefined;
  const v = m.entries.get(key)!;
  if (v.length !== cols) {
    throw new CalibrationError(m.path, `has ${v.length} importance values for "${name}" but the tensor has ${cols} input columns: an importance matrix of another model?`, key);
  }
  return v;
}

/**
 * Check that the file is for this model: at least one of the `names` (the tensors to quantize,
 * with their column counts) has an entry, else a clear error naming both sides.
 */
export function checkImatrixFits(m: ImportanceMatrix, tensors: { name: string; cols: number }[]): { missing: string[] } {
  const missing: string[] = [];
  let found = 0;
  for (const t of tensors) {
    if (importanceFor(m, t.name, t.cols) === undefined) missing.push(t.name);
    else found++;
  }
  if (found === 0 && tensors.length > 0) {
    const theirs = [...m.entries.keys()].slice(0, 3).join(', ');
    const ours = tensors.slice(0, 3).map((t) => t.name).join(', ');
    throw new CalibrationError(m.path, `has no entry for any tensor of this model (the file has ${theirs || 'no entries'}…; the model has ${ours}…): an importance matrix of another model?`);
  }
  return { missing };
}
