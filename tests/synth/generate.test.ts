/**
 * The synthetic model generator: files read back by an independent minimal safetensors parser
 * (written here, not shared with the writer), determinism, weight statistics, the f16/bf16
 * conversions against known bit patterns, sharded indexes, and the CLI.
 */
import { test, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  bf16BitsToF32, encodeHeader, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, writeSafetensors, type TensorSpec,
} from '../../common/safetensors/writer.js';
import { generateModel, type GenerateOptions } from '../../tools/synth/generate.js';
import { ditTensors, dreamTensors } from '../../tools/synth/presets.js';
import { lladaTensors } from '../../tools/synth/llm.js';
import { clipLComponent, FLUX_DIMS, fluxTensors, fluxVaeComponent } from '../../tools/synth/flux.js';
import { tokenizerJson } from '../../tools/synth/tokenizer.js';
import { buildProgram } from '../../tools/synth/cli.js';

const root = mkdtempSync(join(tmpdir(), 'aq-synth-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = () => join(root, `d${dirCount++}`);

// ---- an independent minimal safetensors reader ------------------------------------------------

const SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
interface Parsed {
  headerLen: number;
  metadata: Record<string, string> | undefined;
  tensors: Map<string, { dtype: string; shape: number[]; bytes: Buffer }>;
  order: string[];
}

function parse(file: string): Parsed {
  const buf = readFileSync(file);
  assert.ok(buf.length >= 8, `${file}: shorter than the length prefix`);
  const n = Number(buf.readBigUInt64LE(0));
  assert.ok(8 + n <= buf.length, `${file}: header runs past the end`);
  assert.equal((8 + n) % 8, 0, `${file}: data not 8-byte aligned`);
  const text = buf.subarray(8, 8 + n).toString('utf8');
  assert.match(text, /^\{.*\} *$/s, 'header is one JSON object padded with spaces');
  const json = JSON.parse(text) as Record<string, unknown>;
  const data = buf.subarray(8 + n);
  const tensors: Parsed['tensors'] = new Map();
  const order: string[] = [];
  let metadata: Record<string, string> | undefined;
  let expectBegin = 0;
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = v as Record<string, string>;
      for (const x of Object.values(metadata)) assert.equal(typeof x, 'string');
      continue;
    }
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const size = SIZE[e.dtype];
    assert.ok(size !== undefined, `${name}: dtype ${e.dtype}`);
    const [b, end] = e.data_offsets;
    assert.equal(b, expectBegin, `${name}: not contiguous`);
    assert.equal(end - b, size * e.shape.reduce((a, d) => a * d, 1), `${name}: byte length ≠ dtype size × shape`);
    assert.ok(end <= data.length, `${name}: past the end of the file`);
    expectBegin = end;
    tensors.set(name, { dtype: e.dtype, shape: e.shape, bytes: data.subarray(b, end) });
    order.push(name);
  }
  assert.equal(expectBegin, data.length, 'data section is exactly the tensors');
  return { headerLen: n, metadata, tensors, order };
}

/** Values of a float tensor as f64. */
function values(t: { dtype: string; bytes: Buffer }): Float64Array {
  const b = t.bytes;
  const n = b.length / SIZE[t.dtype]!;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (t.dtype === 'F32') out[i] = b.readFloatLE(4 * i);
    else if (t.dtype === 'F64') out[i] = b.readDoubleLE(8 * i);
    else if (t.dtype === 'BF16') out[i] = bf16BitsToF32(b.readUInt16LE(2 * i));
    else if (t.dtype === 'F16') out[i] = f16BitsToF32(b.readUInt16LE(2 * i));
    else throw new Error(t.dtype);
  }
  return out;
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const listFiles = (dir: string, prefix = ''): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`])).sort();
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

// ---- f16 / bf16 -------------------------------------------------------------------------------

test('f32 → f16 rounds to nearest even at known bit patterns', () => {
  const cases: Array<[number, number]> = [
    [1.0, 0x3c00], [-2.5, 0xc100], [65504, 0x7bff], [65519, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00],
    [0, 0x0000], [-0, 0x8000], [Infinity, 0x7c00], [-Infinity, 0xfc00], [NaN, 0x7e00],
    [2 ** -14, 0x0400], [2 ** -14 - 2 ** -24, 0x03ff], [2 ** -24, 0x0001], [6e-8, 0x0001], [1e-7, 0x0002],
    [1e-8, 0x0000], [-1e-8, 0x8000], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [2 ** -25 + 2 ** -40, 0x0001],
    [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [2049, 0x6800], [2051, 0x6802], [1 + 2 ** -11 + 2 ** -20, 0x3c01],
  ];
  for (const [x, bits] of cases) assert.equal(f32ToF16Bits(x), bits, `f16(${x}) = 0x${f32ToF16Bits(x).toString(16)}, want 0x${bits.toString(16)}`);
});

test('f32 → bf16 rounds to nearest even at known bit patterns', () => {
  const cases: Array<[number, number]> = [
    [1.0, 0x3f80], [-2.5, 0xc020], [65504, 0x4780], [1e-8, 0x322c], [Infinity, 0x7f80], [-Infinity, 0xff80],
    [NaN, 0x7fc0], [3.4028234663852886e38, 0x7f80], [1e-40, 0x0001], [-0, 0x8000],
    [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82], [1 + 2 ** -8 + 2 ** -20, 0x3f81],
  ];
  for (const [x, bits] of cases) assert.equal(f32ToBf16Bits(x), bits, `bf16(${x}) = 0x${f32ToBf16Bits(x).toString(16)}, want 0x${bits.toString(16)}`);
});

test('f16 and bf16: every pattern round-trips, and random f32 go to the nearest (ties even)', () => {
  for (let h = 0; h < 0x10000; h++) {
    const x = f16BitsToF32(h);
    if (Number.isNaN(x)) assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(x))));
    else assert.equal(f32ToF16Bits(x), h, `f16 0x${h.toString(16)}`);
    const y = bf16BitsToF32(h);
    if (Number.isNaN(y)) assert.equal(f32ToBf16Bits(y) & 0x7fc0, 0x7fc0);
    else assert.equal(f32ToBf16Bits(y), h, `bf16 0x${h.toString(16)}`);
  }
  // Finite f32 in f16's range: the result is no farther than either neighbour, and an exact tie picks the even code.
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let s = 12345;
  for (let k = 0; k < 200_000; k++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    u[0] = (s & 0x807fffff) | ((((s >>> 23) & 0xff) % 36) + 95) << 23; // exponents 2^-32 .. 2^3, both signs
    const x = f[0]!;
    const h = f32ToF16Bits(x);
    const err = Math.abs(f16BitsToF32(h) - x);
    for (const nb of [h - 1, h + 1]) {
      if ((nb & 0x7fff) > 0x7bff || (nb & 0x8000) !== (h & 0x8000)) continue;
      const e2 = Math.abs(f16BitsToF32(nb) - x);
      assert.ok(err < e2 || (err === e2 && (h & 1) === 0), `x=${x}: 0x${h.toString(16)} vs 0x${nb.toString(16)}`);
    }
  }
});

// ---- writer -----------------------------------------------------------------------------------

test('encodeHeader: u64 length, space padding to 8, entry order kept, and lies on request', () => {
  const h = encodeHeader([['b', 1], ['0', { dtype: 'F32', shape: [], data_offsets: [0, 4] }]]);
  assert.equal(h.length % 8, 0);
  const view = Buffer.from(h);
  const n = Number(view.readBigUInt64LE(0));
  assert.equal(8 + n, h.length);
  assert.ok(view.subarray(8).toString().startsWith('{"b":1,"0":'), 'order as given, even for integer-like names');
  assert.equal(view.subarray(8).toString().trimEnd().endsWith('}'), true);
  const lie = Buffer.from(encodeHeader({ a: 1 }, { declaredLength: 1n << 40n, align: 1 }));
  assert.equal(lie.readBigUInt64LE(0), 1n << 40n);
  assert.equal(lie.length, 8 + '{"a":1}'.length);
});

test('writeSafetensors: every float dtype, raw bytes, scalars, empty tensors; block size does not matter', async () => {
  const rows = 37, cols = 29; // blockValues 60 → blocks of 2 rows: many blocks, the last one short
  const f = (r0: number, n: number, out: Float32Array) => {
    assert.equal(out.length, n * cols);
    for (let r = 0; r < n; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = Math.sin((r0 + r) * 1000 + c) * 3.3 + (c === 5 ? 70000 : 0);
  };
  const ids = new BigInt64Array([3n, -1n, 1n << 40n]);
  const specs: TensorSpec[] = [
    { name: 'a.f32', dtype: 'F32', shape: [rows, cols], fill: f },
    { name: 'b.bf16', dtype: 'BF16', shape: [rows, cols], fill: f },
    { name: 'c.f16', dtype: 'F16', shape: [rows, cols], fill: f },
    { name: 'd.f64', dtype: 'F64', shape: [1, rows, cols], fill: f },
    { name: 'e.ids', dtype: 'I64', shape: [3], data: new Uint8Array(ids.buffer) },
    { name: 'f.scalar', dtype: 'F32', shape: [], fill: (_r, _n, out) => out.fill(7.5) },
    { name: 'g.empty', dtype: 'BF16', shape: [0, 4], fill: () => assert.fail('no rows to fill') },
  ];
  const p1 = join(root, 'w1.safetensors'), p2 = join(root, 'w2.safetensors');
  const r1 = await writeSafetensors(p1, specs, { format: 'pt', note: 'x' }, { blockValues: 60 });
  await writeSafetensors(p2, specs, { format: 'pt', note: 'x' });
  assert.equal(sha(p1), sha(p2), 'block size changes nothing');
  assert.ok(!existsSync(`${p1}.partial`));
  assert.equal(r1.bytes, statSync(p1).size);
  const p = parse(p1);
  assert.deepEqual(p.metadata, { format: 'pt', note: 'x' });
  assert.deepEqual(p.order, specs.map((s) => s.name));
  const want = new Float32Array(rows * cols);
  f(0, rows, want);
  const a = values(p.tensors.get('a.f32')!), b = values(p.tensors.get('b.bf16')!), c = values(p.tensors.get('c.f16')!), d = values(p.tensors.get('d.f64')!);
  for (let i = 0; i < want.length; i++) {
    assert.equal(a[i], want[i]);
    assert.equal(d[i], want[i]);
    assert.equal(b[i], bf16BitsToF32(f32ToBf16Bits(want[i]!)));
    assert.equal(c[i], f16BitsToF32(f32ToF16Bits(want[i]!)));
  }
  assert.equal(c[5], Infinity, '70000 overflows f16');
  assert.deepEqual([...new BigInt64Array(new Uint8Array(p.tensors.get('e.ids')!.bytes).buffer)], [...ids]);
  assert.deepEqual([...values(p.tensors.get('f.scalar')!)], [7.5]);
  assert.equal(p.tensors.get('g.empty')!.bytes.length, 0);

  const noMeta = join(root, 'w3.safetensors');
  await writeSafetensors(noMeta, [specs[4]!], null);
  assert.equal(parse(noMeta).metadata, undefined);
});

test('writeSafetensors: bad input is rejected and a failing fill leaves no file', async () => {
  const p = join(root, 'bad.safetensors');
  const ok = { name: 'x', dtype: 'F32' as const, shape: [2, 2], fill: (_r: number, _n: number, o: Float32Array) => o.fill(1) };
  await assert.rejects(writeSafetensors(p, [ok, ok]), /duplicate/);
  await assert.rejects(writeSafetensors(p, [{ ...ok, shape: [2, -1] }]), /bad shape/);
  await assert.rejects(writeSafetensors(p, [{ name: 'y', dtype: 'I64', shape: [2], fill: ok.fill } as unknown as TensorSpec]), /fill generator/);
  await assert.rejects(writeSafetensors(p, [{ name: 'z', dtype: 'I64', shape: [2], data: new Uint8Array(8) }]), /data bytes/);
  const boom = { ...ok, shape: [1000, 100], fill: (r: number) => { if (r > 0) throw new Error('boom'); } };
  await assert.rejects(writeSafetensors(p, [boom], undefined, { blockValues: 1000 }), /boom/);
  assert.ok(!existsSync(p) && !existsSync(`${p}.partial`));
});

test('writeSafetensors streams: a 192 MB tensor with bounded memory', async () => {
  const p = join(root, 'big.safetensors');
  const before = process.memoryUsage().rss;
  let peak = before;
  await writeSafetensors(p, [{ name: 'w', dtype: 'F32', shape: [12288, 4096], fill: (r0, _n, out) => out.fill(r0) }], undefined, {
    onProgress: () => { peak = Math.max(peak, process.memoryUsage().rss); },
  });
  assert.equal(statSync(p).size, 12288 * 4096 * 4 + parse(p).headerLen + 8);
  assert.ok(peak - before < 96 * 2 ** 20, `rss grew by ${((peak - before) / 2 ** 20).toFixed(0)} MiB`);
  rmSync(p);
});

// ---- presets and layouts ----------------------------------------------------------------------

/** Shard file names for N shards (N found from the directory: the greedy split decides it). */
const shardNames = (base: string, n: number) => Array.from({ length: n }, (_, i) => `${base}-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`);
const cases: Array<Pick<GenerateOptions, 'preset' | 'layout'> & { expect: (shards: number) => string[] }> = [
  { preset: 'dream', layout: 'single', expect: () => ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'] },
  { preset: 'dream', layout: 'sharded', expect: (n) => ['config.json', ...shardNames('model', n), 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json'] },
  { preset: 'llada', layout: 'single', expect: () => ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'] },
  { preset: 'dit', layout: 'single', expect: () => ['config.json', 'diffusion_pytorch_model.safetensors'] },
  { preset: 'dit', layout: 'sharded', expect: (n) => ['config.json', ...shardNames('diffusion_pytorch_model', n), 'diffusion_pytorch_model.safetensors.index.json'] },
  {
    preset: 'dit', layout: 'diffusers',
    expect: () => ['model_index.json', 'scheduler/scheduler_config.json', 'text_encoder/config.json', 'text_encoder/model.safetensors', 'transformer/config.json', 'transformer/diffusion_pytorch_model.safetensors', 'vae/config.json', 'vae/diffusion_pytorch_model.safetensors'],
  },
];

for (const c of cases) {
  test(`tiny ${c.preset} / ${c.layout}: files parse back and match the report`, async () => {
    const dir = freshDir();
    const r = await generateModel({ preset: c.preset, scale: 'tiny', layout: c.layout, outDir: dir, seed: 7 });
    const shards = listFiles(dir).filter((f) => /-of-\d{5}\.safetensors$/.test(f)).length;
    if (c.layout === 'sharded') assert.ok(shards >= 3 && shards <= 4, `default split: ${shards} shards`);
    const expect = c.expect(shards);
    assert.deepEqual(listFiles(dir), expect);
    assert.deepEqual(r.files.map((f) => f.rel).sort(), expect);
    assert.equal(r.totalBytes, r.files.reduce((a, f) => a + f.bytes, 0));
    let tensors = 0;
    for (const f of r.files) {
      assert.equal(statSync(f.path).size, f.bytes, f.rel);
      if (f.rel.endsWith('.json')) JSON.parse(readFileSync(f.path, 'utf8'));
      else {
        const p = parse(f.path);
        assert.deepEqual(p.metadata, { format: 'pt' });
        tensors += p.tensors.size;
      }
    }
    assert.equal(tensors, r.tensors);
    assert.ok(r.totalBytes < 8e6, 'tiny stays a few MB');
  });
}

test('the LLM presets\' tokenizer: byte-level BPE, special tokens at the config\'s ids right after a vocabulary filled up to them', async () => {
  const dir = freshDir();
  await generateModel({ preset: 'dream', scale: 'tiny', layout: 'single', outDir: dir });
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>;
  const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number>; merges: string[] }; added_tokens: { id: number; content: string }[] };
  const ids = Object.fromEntries(tok.added_tokens.map((t) => [t.content, t.id]));
  assert.equal(ids['<|endoftext|>'], cfg.bos_token_id);
  assert.equal(ids['<|mask|>'], cfg.mask_token_id);
  assert.equal(Object.keys(tok.model.vocab).length, Math.min(...Object.values(ids)));
  assert.ok(tok.model.merges.length > 200);
  for (const m of tok.model.merges) assert.ok(m.replace(' ', '') in tok.model.vocab, m);
  // The 7b scale: Qwen's ids, the gap between <|im_end|> and <|mask|> filled with reserved specials.
  const big = tokenizerJson({ family: 'qwen2', specials: [['<|endoftext|>', 151643], ['<|mask|>', 151666]] }) as { added_tokens: { id: number }[]; model: { vocab: object } };
  assert.deepEqual(big.added_tokens.map((t) => t.id), Array.from({ length: 24 }, (_, i) => 151643 + i));
  assert.equal(Object.keys(big.model.vocab).length, 151643);
});

test('layout diffusers is refused for the LM preset', async () => {
  await assert.rejects(generateModel({ preset: 'dream', scale: 'tiny', layout: 'diffusers', outDir: freshDir() }), /diffusers/);
});

test('deterministic: same arguments, same bytes; another seed, other bytes; layout does not change tensors', async () => {
  const run = async (seed: number, layout: GenerateOptions['layout'], preset: GenerateOptions['preset'] = 'dit') => {
    const dir = freshDir();
    const r = await generateModel({ preset, scale: 'tiny', layout, outDir: dir, seed, shardBytes: 300_000 });
    return { dir, sums: Object.fromEntries(r.files.map((f) => [f.rel, sha(f.path)])) };
  };
  const a = await run(3, 'diffusers'), b = await run(3, 'diffusers'), c = await run(4, 'diffusers');
  assert.deepEqual(a.sums, b.sums);
  assert.notEqual(a.sums['vae/diffusion_pytorch_model.safetensors'], c.sums['vae/diffusion_pytorch_model.safetensors']);
  assert.ok(Object.keys(a.sums).some((k) => /^transformer\/diffusion_pytorch_model-00001-of-0000\d\.safetensors$/.test(k)), 'transformer sharded when shardBytes is exceeded');
  const d1 = await run(9, 'sharded', 'dream'), d2 = await run(9, 'sharded', 'dream'), single = await run(9, 'single', 'dream');
  assert.deepEqual(d1.sums, d2.sums);
  const one = parse(join(single.dir, 'model.safetensors'));
  const index = JSON.parse(readFileSync(join(d1.dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  for (const [name, file] of Object.entries(index.weight_map)) {
    assert.ok(parse(join(d1.dir, file)).tensors.get(name)!.bytes.equals(one.tensors.get(name)!.bytes), name);
  }
});

test('sharded index maps every tensor to an existing shard that holds it, and total_size adds up', async () => {
  for (const preset of ['dream', 'dit'] as const) {
    const dir = freshDir();
    await generateModel({ preset, scale: 'tiny', layout: 'sharded', outDir: dir });
    const base = preset === 'dream' ? 'model' : 'diffusion_pytorch_model';
    const index = JSON.parse(readFileSync(join(dir, `${base}.safetensors.index.json`), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    const shards = listFiles(dir).filter((f) => f.endsWith('.safetensors'));
    let total = 0;
    const seen = new Set<string>();
    for (const s of shards) {
      assert.match(s, new RegExp(`^${base}-\\d{5}-of-\\d{5}\\.safetensors$`));
      for (const [name, t] of parse(join(dir, s)).tensors) {
        assert.equal(index.weight_map[name], s, `${name} listed in its shard`);
        total += t.bytes.length;
        seen.add(name);
      }
    }
    assert.deepEqual([...seen].sort(), Object.keys(index.weight_map).sort());
    for (const f of new Set(Object.values(index.weight_map))) assert.ok(existsSync(join(dir, f)));
    assert.equal(index.metadata.total_size, total);
    const names = (preset === 'dream' ? dreamTensors('tiny') : ditTensors('tiny')).map((t) => t.name);
    assert.deepEqual(Object.keys(index.weight_map), names, 'index in tensor order');
  }
});

// ---- statistics -------------------------------------------------------------------------------

/** Column absmax of a [rows, cols] tensor. */
function columnAbsmax(v: Float64Array, rows: number, cols: number): number[] {
  const m = new Array<number>(cols).fill(0);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[c] = Math.max(m[c]!, Math.abs(v[r * cols + c]!));
  return m;
}

test('statistics: outlier input channels, a low-rank spike, std ≈ 1/√in, norms near 1, embeddings 0.02', async () => {
  const dir = freshDir();
  await generateModel({ preset: 'dream', scale: 'tiny', layout: 'single', outDir: dir, seed: 1 });
  const p = parse(join(dir, 'model.safetensors'));
  for (const name of ['model.layers.0.mlp.down_proj.weight', 'model.layers.1.self_attn.q_proj.weight', 'lm_head.weight']) {
    const t = p.tensors.get(name)!;
    const [rows, cols] = t.shape as [number, number];
    const v = values(t);
    const absmax = columnAbsmax(v, rows, cols);
    const ratio = Math.max(...absmax) / median(absmax);
    assert.ok(ratio > 5, `${name}: column absmax max/median ${ratio.toFixed(1)}`);
    // Typical columns: std ≈ 1/√in (row scales and the spike move it a little).
    const colStd = Array.from({ length: cols }, (_, c) => {
      let s = 0;
      for (let r = 0; r < rows; r++) s += v[r * cols + c]! ** 2;
      return Math.sqrt(s / rows);
    });
    const rel = median(colStd) * Math.sqrt(cols);
    assert.ok(rel > 0.7 && rel < 1.5, `${name}: median column std ${rel.toFixed(2)}/√in`);
    // Spike: with the 8 loudest columns removed, σ₁ stands above the random bulk's √rows+√cols edge.
    const drop = new Set(absmax.map((m, c) => [m, c] as const).sort((x, y) => y[0] - x[0]).slice(0, 8).map(([, c]) => c));
    const w = v.map((x, i) => (drop.has(i % cols) ? 0 : x));
    let x = new Float64Array(cols).fill(1), sigma = 0;
    for (let it = 0; it < 60; it++) {
      const y = new Float64Array(rows);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) y[r]! += w[r * cols + c]! * x[c]!;
      const z = new Float64Array(cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) z[c]! += w[r * cols + c]! * y[r]!;
      const norm = Math.hypot(...z);
      sigma = Math.sqrt(norm);
      x = z.map((q) => q / norm);
    }
    const rms = Math.sqrt(w.reduce((a, q) => a + q * q, 0) / (rows * (cols - 8)));
    const edge = rms * (Math.sqrt(rows) + Math.sqrt(cols));
    assert.ok(sigma / edge > 1.5, `${name}: σ₁ / bulk edge ${(sigma / edge).toFixed(2)}`);
  }
  for (const name of ['model.layers.0.input_layernorm.weight', 'model.norm.weight']) {
    const v = values(p.tensors.get(name)!);
    const mean = v.reduce((a, x) => a + x, 0) / v.length;
    assert.ok(Math.abs(mean - 1) < 0.02, `${name} mean ${mean}`);
    assert.ok(v.every((x) => Math.abs(x - 1) < 0.25), `${name} all near 1`);
    assert.ok(v.some((x) => x !== 1), `${name} has noise`);
  }
  const emb = values(p.tensors.get('model.embed_tokens.weight')!);
  const std = Math.sqrt(emb.reduce((a, x) => a + x * x, 0) / emb.length);
  assert.ok(Math.abs(std - 0.02) < 0.004, `embedding std ${std}`);
  const bias = values(p.tensors.get('model.layers.0.self_attn.k_proj.bias')!);
  assert.ok(Math.max(...bias.map(Math.abs)) < 0.1, 'biases small');
});

test('dit preset: mixed dtypes, odd row lengths, a tiny tensor, sin-cos pos_embed, int64 ids', async () => {
  const dir = freshDir();
  await generateModel({ preset: 'dit', scale: 'tiny', layout: 'single', outDir: dir });
  const p = parse(join(dir, 'diffusion_pytorch_model.safetensors'));
  const dtypes = new Set([...p.tensors.values()].map((t) => t.dtype));
  assert.deepEqual([...dtypes].sort(), ['BF16', 'F16', 'F32', 'I64']);
  assert.equal(p.tensors.get('scale_shift_table')!.dtype, 'F16');
  assert.equal(p.tensors.get('transformer_blocks.0.attn.norm_q.weight')!.dtype, 'F32');
  assert.deepEqual(p.tensors.get('transformer_blocks.1.norm1.linear.weight')!.shape, [6 * 144, 144]);
  assert.deepEqual(p.tensors.get('transformer_blocks.1.ff.net.0.proj.weight')!.shape, [4 * 144, 144]);
  assert.deepEqual(p.tensors.get('transformer_blocks.1.ff.net.2.weight')!.shape, [144, 4 * 144]);
  for (const suffix of ['to_q.weight', 'to_k.bias', 'to_v.weight', 'to_out.0.weight', 'to_out.0.bias']) assert.ok(p.tensors.has(`transformer_blocks.0.attn.${suffix}`), suffix);
  for (const name of ['x_embedder.proj.weight', 't_embedder.mlp.0.weight', 'proj_out.weight', 'norm_out.linear.weight', 'context_embedder.weight']) assert.ok(p.tensors.has(name), name);
  const linears = [...p.tensors.values()].filter((t) => t.shape.length === 2 && t.dtype === 'BF16');
  assert.ok(linears.some((t) => t.shape[1]! % 128 !== 0), 'a row length not divisible by 128');
  assert.ok([...p.tensors.values()].some((t) => t.bytes.length / SIZE[t.dtype]! <= 1024), 'a tiny tensor');
  const ids = new BigInt64Array(new Uint8Array(p.tensors.get('position_ids')!.bytes).buffer);
  assert.deepEqual([...ids].slice(0, 4), [0n, 1n, 2n, 3n]);
  const pos = values(p.tensors.get('pos_embed')!);
  const d = 144;
  assert.deepEqual([...pos.subarray(0, 3)], [0, 0, 0], 'position 0: sin 0');
  assert.deepEqual([...pos.subarray(d / 4, d / 4 + 3)], [1, 1, 1], 'position 0: cos 0');
  assert.equal(pos[d + 0], Math.fround(Math.sin(1)), 'position 1, column coordinate 1, ω₀ = 1');
  const ada = p.tensors.get('transformer_blocks.0.norm1.linear.weight')!;
  const av = values(ada);
  const chunkRms = [0, 5].map((k) => Math.sqrt(av.subarray(k * d * d, (k + 1) * d * d).reduce((a, x) => a + x * x, 0) / (d * d)));
  assert.ok(chunkRms[0]! > 2 * chunkRms[1]!, 'adaLN shift chunk louder than the mlp gate chunk');
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg['_class_name'], 'FluxTransformer2DModel');
});

test('flux preset: FLUX.1\'s diffusers names and shapes (heads of 128, guidance), bf16; its pipeline\'s Flux VAE and real-size CLIP-L', async () => {
  const dir = freshDir();
  const r = await generateModel({ preset: 'flux', scale: 'tiny', layout: 'single', outDir: dir });
  assert.deepEqual(listFiles(dir), ['config.json', 'diffusion_pytorch_model.safetensors']);
  const p = parse(join(dir, 'diffusion_pytorch_model.safetensors'));
  assert.equal(p.tensors.size, r.tensors);
  assert.deepEqual([...new Set([...p.tensors.values()].map((t) => t.dtype))], ['BF16']);
  const shape = (n: string) => p.tensors.get(n)?.shape;
  assert.deepEqual(shape('x_embedder.weight'), [256, 64]);
  assert.deepEqual(shape('context_embedder.weight'), [256, 4096]);
  assert.deepEqual(shape('time_text_embed.guidance_embedder.linear_1.weight'), [256, 256]);
  assert.deepEqual(shape('time_text_embed.text_embedder.linear_1.weight'), [256, 768]);
  assert.deepEqual(shape('transformer_blocks.0.norm1_context.linear.weight'), [6 * 256, 256]);
  assert.deepEqual(shape('transformer_blocks.0.attn.norm_added_k.weight'), [128]);
  assert.deepEqual(shape('single_transformer_blocks.0.proj_out.weight'), [256, 5 * 256]);
  assert.deepEqual(shape('single_transformer_blocks.0.norm.linear.weight'), [3 * 256, 256]);
  assert.deepEqual(shape('proj_out.weight'), [64, 256]);
  assert.ok(!p.tensors.has('transformer_blocks.1.attn.to_q.weight') && !p.tensors.has('single_transformer_blocks.1.proj_mlp.weight'));
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([cfg['_class_name'], cfg['num_attention_heads'], cfg['attention_head_dim'], cfg['num_layers'], cfg['num_single_layers'], cfg['guidance_embeds']], ['FluxTransformer2DModel', 2, 128, 1, 1, true]);
  const bytes = (t: readonly { shape: readonly number[]; dtype: string }[]) => t.reduce((a, x) => a + x.shape.reduce((q, d) => q * d, 1) * ({ BF16: 2, F16: 2, F32: 4, I64: 8 } as Record<string, number>)[x.dtype]!, 0);
  assert.ok(bytes(fluxTensors('7b')) > 13e9 && bytes(fluxTensors('7b')) < 16e9);
  assert.ok(bytes(fluxTensors('1.5gb')) > 1.2e9 && bytes(fluxTensors('1.5gb')) < 1.8e9);
  assert.ok(bytes(fluxTensors('small')) > 50e6 && bytes(fluxTensors('small')) < 100e6);
  for (const s of ['tiny', '7b'] as const) assert.equal(FLUX_DIMS[s].hidden % 128, 0);
  // The pipeline's other parts: CLIP-L at its real size whatever the scale, a Flux VAE (16 latent channels, no quant convs).
  const clip = clipLComponent();
  assert.deepEqual(clip.tensors.find((t) => t.name === 'text_model.embeddings.token_embedding.weight')!.shape, [49408, 768]);
  assert.equal(clip.tensors.filter((t) => t.name.endsWith('mlp.fc1.weight')).length, 12);
  const vae = fluxVaeComponent('tiny');
  const vshape = (n: string) => vae.tensors.find((t) => t.name === n)?.shape;
  assert.deepEqual(vshape('decoder.conv_in.weight'), [128, 16, 3, 3]);
  assert.deepEqual(vshape('encoder.conv_out.weight'), [32, 128, 3, 3]);
  assert.deepEqual(vshape('decoder.mid_block.attentions.0.to_q.weight'), [128, 128]);
  assert.deepEqual(vshape('decoder.up_blocks.3.resnets.0.conv_shortcut.weight'), [32, 64, 1, 1]);
  assert.ok(!vae.tensors.some((t) => t.name.includes('quant_conv')));
  assert.deepEqual(fluxVaeComponent('7b').config['block_out_channels'], [128, 256, 512, 512]);
  await assert.rejects(generateModel({ preset: 'llada', scale: 'tiny', layout: 'diffusers', outDir: freshDir() }), /diffusers/);
});

test('presets at full size: Dream-7B shapes and sizes for every scale', () => {
  const bytes = (t: ReturnType<typeof dreamTensors>) => t.reduce((a, x) => a + x.shape.reduce((p, d) => p * d, 1) * 2, 0);
  const seven = dreamTensors('7b');
  assert.deepEqual(seven.find((t) => t.name === 'model.embed_tokens.weight')!.shape, [152064, 3584]);
  assert.deepEqual(seven.find((t) => t.name === 'model.layers.27.mlp.down_proj.weight')!.shape, [3584, 18944]);
  assert.deepEqual(seven.find((t) => t.name === 'model.layers.0.self_attn.k_proj.weight')!.shape, [512, 3584]);
  assert.ok(bytes(seven) > 14e9 && bytes(seven) < 16e9);
  assert.ok(bytes(dreamTensors('1.5gb')) > 1.2e9 && bytes(dreamTensors('1.5gb')) < 1.8e9);
  assert.ok(bytes(dreamTensors('small')) > 50e6 && bytes(dreamTensors('small')) < 100e6);
  const dit = (s: Parameters<typeof ditTensors>[0]) => ditTensors(s).reduce((a, x) => a + x.shape.reduce((p, d) => p * d, 1) * { BF16: 2, F16: 2, F32: 4, I64: 8 }[x.dtype as 'BF16'], 0);
  assert.ok(dit('1.5gb') > 1.2e9 && dit('1.5gb') < 1.8e9);
  assert.ok(dit('7b') > 13e9 && dit('7b') < 16e9);
  assert.ok(dit('small') > 50e6 && dit('small') < 100e6);
  const llada = lladaTensors('7b');
  assert.deepEqual(llada.find((t) => t.name === 'model.transformer.wte.weight')!.shape, [126464, 4096]);
  assert.deepEqual(llada.find((t) => t.name === 'model.transformer.blocks.31.ff_out.weight')!.shape, [4096, 12288]);
  assert.ok(bytes(llada) > 15e9 && bytes(llada) < 17e9, 'LLaDA-8B ≈ 16 GB in bf16');
});

// ---- CLI --------------------------------------------------------------------------------------

test('cli: --help lists the options, a run writes the model, bad choices are refused', async () => {
  let out = '';
  const program = () => buildProgram().exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  await assert.rejects(program().parseAsync(['node', 'cli', '--help']), { code: 'commander.helpDisplayed' });
  for (const flag of ['--preset', '--scale', '--layout', '--seed', '--shard-size', '--out']) assert.ok(out.includes(flag), flag);
  await assert.rejects(program().parseAsync(['node', 'cli', '--preset', 'unet', '-o', freshDir()]), { code: 'commander.invalidArgument' });
  const dir = freshDir();
  await program().parseAsync(['node', 'cli', '--preset', 'dream', '--layout', 'sharded', '--shard-size', '400kB', '--seed', '5', '-o', dir, '-q']);
  const shards = listFiles(dir).filter((f) => f.endsWith('.safetensors'));
  assert.ok(shards.length >= 3, shards.join());
});

test('--layers: a deeper model at the same widths (dit, dream, llada), refused for flux and for non-positive counts', async () => {
  const dir = freshDir();
  let out = '';
  const program = () => buildProgram().exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  await program().parseAsync(['node', 'cli', '--preset', 'dream', '--layers', '5', '-o', dir, '-q']);
  const p = parse(join(dir, 'model.safetensors'));
  const layerIds = new Set(p.order.filter((n) => n.startsWith('model.layers.')).map((n) => Number(n.split('.')[2])));
  assert.deepEqual([...layerIds].sort((a, b) => a - b), [0, 1, 2, 3, 4]);
  assert.equal(p.order.length, 5 * 12 + 3, 'twelve tensors per Dream layer, plus embeddings, norm and head');
  assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))['num_hidden_layers'], 5);
  // Widths stay the scale's.
  assert.deepEqual(p.tensors.get('model.layers.4.mlp.down_proj.weight')!.shape, dreamTensors('tiny').find((t) => t.name === 'model.layers.0.mlp.down_proj.weight')!.shape);
  assert.equal(dreamTensors('7b', 3).filter((t) => t.name.endsWith('mlp.down_proj.weight')).length, 3);
  assert.equal(lladaTensors('tiny', 7).filter((t) => /blocks\.\d+\.ff_out\.weight$/.test(t.name)).length, 7);
  assert.equal(ditTensors('tiny', 4).filter((t) => /^transformer_blocks\.3\./.test(t.name)).length > 0, true);
  assert.equal(ditTensors('tiny', 4).some((t) => /^transformer_blocks\.4\./.test(t.name)), false);
  await assert.rejects(generateModel({ preset: 'flux', scale: 'tiny', layout: 'single', outDir: freshDir(), layers: 3 }), /flux has double and single blocks/);
  assert.throws(() => dreamTensors('tiny', 0), /positive integer/);
  await assert.rejects(program().parseAsync(['node', 'cli', '--preset', 'dream', '--layers', '0', '-o', freshDir()]), { code: 'commander.invalidArgument' });
  assert.match(out, /positive integer/);
});
