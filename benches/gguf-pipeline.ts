/**
 * The whole job against ggml's quantizer calls alone (issue #14's target: `arrowquant quantize
 * --method q4_k --threads 1`, read + quantize + write the Parquet file, at least 5× faster than
 * ggml quantizing the same tensors, single-threaded, its calls alone).
 *
 *   npm run build && bash scripts/setup-ggml.sh && node dist/benches/gguf-pipeline.js [--blocks N] [--types q4_k,q6_k] [--imatrix]
 *
 * The model: a Flux-width transformer (hidden 3072, every linear layer's rows whole 256-value
 * super-blocks), `--blocks` blocks of attention q/k/v/out and a 4× MLP, bf16, heavy-tailed values
 * with outlier columns; generated once into benches/out/ (git-ignored). ggml: `ggml_oracle_O3`
 * (ggml-quants.c at -O3, as llama.cpp's Release build ships ggml-base), one process per tensor
 * timing quantize_<type> on the tensor's f32 values (their conversion from bf16 and the file
 * write are not counted; the process's own start and f32 read are, a few ms per tensor). Ours: the
 * CLI end to end, from process start to the renamed output file. The bytes of every tensor are
 * compared with ggml's, so the two did the same work.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import { openQuantized } from '../common/format/reader.js';
import { CLI, OUT, ROOT, median, runsArg } from './paths.js';
import { SplitMix32, normalQuantile, unitOpen, splitmix32At } from '../common/random.js';
import { writeSafetensors, type FloatTensorSpec } from '../common/safetensors/writer.js';
import { bf16BitsToF32 } from '../common/half.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const blocks = Number(arg('--blocks', '2'));
const types = arg('--types', 'q4_k').split(',');
const runs = runsArg(args);
const withImatrix = args.includes('--imatrix');
const H = 3072;

function oracle(): string {
  const base = join(ROOT, '.cache', 'ggml');
  const found = existsSync(base) ? readdirSync(base).map((v) => join(base, v, 'out', 'ggml_oracle_O3')).filter(existsSync) : [];
  if (!found.length) throw new Error('ggml is not built: run bash scripts/setup-ggml.sh');
  return found.sort().pop()!;
}

/** A weight with a t-like bulk, std 1/sqrt(cols), and 1 in 128 columns 8-24× larger. */
function weight(name: string, rows: number, cols: number): FloatTensorSpec {
  const seed = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7);
  const scaleOf = new Float32Array(cols).fill(1);
  const r = new SplitMix32(seed);
  for (let c = 0; c < cols; c += 128) scaleOf[c + r.nextInt(128)] = 8 + 16 * r.nextFloat();
  const std = 1 / Math.sqrt(cols);
  return {
    name,
    dtype: 'BF16',
    shape: [rows, cols],
    fill: (r0, n, out) => {
      for (let i = 0; i < n * cols; i++) {
        const c = i % cols;
        out[i] = std * scaleOf[c]! * normalQuantile(unitOpen(splitmix32At(seed, r0 * cols + i)));
      }
    },
  };
}

async function ensureModel(): Promise<string> {
  const dir = join(OUT, `flux-width-${blocks}b`);
  const file = join(dir, 'model.safetensors');
  if (existsSync(file)) return dir;
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`generating ${file} ...\n`);
  const t: FloatTensorSpec[] = [];
  for (let b = 0; b < blocks; b++) {
    const p = `transformer_blocks.${b}`;
    for (const x of ['to_q', 'to_k', 'to_v', 'to_out.0']) t.push(weight(`${p}.attn.${x}.weight`, H, H));
    t.push(weight(`${p}.ff.net.0.proj.weight`, 4 * H, H), weight(`${p}.ff.net.2.weight`, H, 4 * H));
  }
  await writeSafetensors(file, t);
  return dir;
}

/** Seconds of one command (wall), failing loudly. */
function timed(cmd: string, argv: string[]): number {
  const t = performance.now();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed: ${r.stderr}`);
  return (performance.now() - t) / 1000;
}

interface Tensor {
  name: string;
  rows: number;
  cols: number;
  f32: string;
}

/** Every tensor's values as raw f32 (what ggml is handed), written once. */
function dumpF32(dir: string): Tensor[] {
  const file = join(dir, 'model.safetensors');
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
  const out: Tensor[] = [];
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [rows, cols] = e.shape as [number, number];
    const f32 = join(dir, `${name}.f32`);
    if (!existsSync(f32)) {
      const src = buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]);
      const vals = new Float32Array(rows * cols);
      for (let i = 0; i < vals.length; i++) vals[i] = bf16BitsToF32(src.readUInt16LE(2 * i));
      writeFileSync(f32, new Uint8Array(vals.buffer));
    }
    out.push({ name, rows, cols, f32 });
  }
  return out;
}

const model = await ensureModel();
const tensors = dumpF32(model);
const ggml = oracle();
const f32Bytes = tensors.reduce((s, t) => s + 4 * t.rows * t.cols, 0);
const imatrixPath = join(model, 'imatrix.f32');
if (withImatrix && !existsSync(imatrixPath)) {
  const r = new SplitMix32(11);
  writeFileSync(imatrixPath, new Uint8Array(Float32Array.from({ length: 4 * H }, () => Math.exp(r.normal())).buffer));
}
console.log(`# whole job vs ggml's calls: ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}; ${tensors.length} tensors, ${(f32Bytes / 2 / 1e9).toFixed(2)} GB bf16 (${(f32Bytes / 1e9).toFixed(2)} GB as f32); median of ${runs}`);
console.log('# type   importance   ggml calls s   arrowquant job s   ratio   bytes');
for (const type of types) {
  const ggmlType = type.replace(/_k$/, '_K');
  const outDir = join(OUT, 'gguf-pipeline');
  mkdirSync(outDir, { recursive: true });
  // ggml: each tensor once per run, its quantize call in its own process.
  const ggmlRuns: number[] = [];
  for (let r = 0; r < runs; r++) {
    let s = 0;
    for (const t of tensors) {
      const imat = withImatrix ? [writeImatrixFor(t.cols)] : [];
      s += timed(ggml, ['quantize', ggmlType, 'api', t.f32, String(t.rows), String(t.cols), ...imat, join(outDir, `${t.name}.${type}.ggml`)]);
    }
    ggmlRuns.push(s);
  }
  const out = join(outDir, `${type}.parquet`);
  const extra = withImatrix ? ['--imatrix', imatrixGguf()] : [];
  const ours = median(Array.from({ length: runs }, () => timed(process.execPath, [CLI, 'quantize', model, '-o', out, '--method', type, '--threads', '1', '--min-accuracy', '0', '--quiet', ...extra])));
  // Same bytes as ggml's, tensor by tensor.
  const file = await openQuantized(out);
  for (const t of tensors) {
    const info = file.tensors.find((x) => x.name === t.name)!;
    const got = Buffer.concat((await file.chunks(info)).map((c) => c.codes));
    const want = readFileSync(join(outDir, `${t.name}.${type}.ggml`));
    if (!want.equals(got)) throw new Error(`${type}: ${t.name} differs from ggml's bytes`);
  }
  const g = median(ggmlRuns);
  console.log(`  ${type.padEnd(6)} ${String(withImatrix).padEnd(12)} ${g.toFixed(2).padStart(12)} ${ours.toFixed(2).padStart(18)} ${(g / ours).toFixed(1).padStart(7)}×   identical`);
  rmSync(out, { force: true });
}

/** The per-column importance file ggml's harness reads (cols f32 values): one per width. */
function writeImatrixFor(cols: number): string {
  const path = join(model, `imatrix-${cols}.f32`);
  if (!existsSync(path)) {
    const all = new Float32Array(readFileSync(imatrixPath).buffer.slice(0));
    writeFileSync(path, new Uint8Array(all.slice(0, cols).buffer));
  }
  return path;
}

/** The same importance as a llama.cpp imatrix (legacy .dat, ncall 1) for the CLI. */
function imatrixGguf(): string {
  const path = join(model, 'imatrix.dat');
  if (existsSync(path)) return path;
  const all = new Float32Array(readFileSync(imatrixPath).buffer.slice(0));
  const parts: Buffer[] = [];
  const i32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return b;
  };
  parts.push(i32(tensors.length));
  for (const t of tensors) {
    parts.push(i32(Buffer.byteLength(t.name)), Buffer.from(t.name), i32(1), i32(t.cols), Buffer.from(all.slice(0, t.cols).buffer));
  }
  parts.push(i32(1), i32(0));
  writeFileSync(path, Buffer.concat(parts));
  return path;
}
