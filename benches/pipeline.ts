/**
 * Pipeline benchmark (issue #3 and #16 targets): peak RSS of streaming mode on a 1.5 GB and (with
 * --7b) a 7B-shaped model, the streaming/threaded memory ratio, and threaded INT4 time against
 * `cat` reading the same files from the page cache, measured in the same run. `--deep`: a ~5 GB
 * model of the 1.5 GB one's widths with 150 layers (1,803 tensors), so memory that grows with the
 * tensor count shows. `--gptq`: streaming GPTQ on the 1.5 GB model with synthetic calibration,
 * against its target of 400 MB plus the largest Hessian.
 *
 *   npm run build && node dist/benches/pipeline.js [--7b] [--deep] [--gptq] [--runs 3]
 *
 * Models are generated once into benches/out/ (git-ignored) by the synthetic generator.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

import { writeSyntheticCalibration } from '../coordinator/calibration/synthetic-stats.js';
import { DREAM_DIMS } from '../tools/synth/presets.js';
import { CLI, OUT, SYNTH, median, runsArg } from './paths.js';


const args = process.argv.slice(2);
const runs = runsArg(args);
const with7b = args.includes('--7b');
const withDeep = args.includes('--deep');
const withGptq = args.includes('--gptq');

function files(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .map((f) => join(dir, f));
}

function ensureModel(name: string, scale: string, layout: string, extra: string[] = []): string {
  const dir = join(OUT, name);
  if (!existsSync(join(dir, 'config.json'))) {
    process.stderr.write(`generating ${name} (${scale}, ${layout}${extra.length ? `, ${extra.join(' ')}` : ''}) ...\n`);
    execFileSync(process.execPath, [SYNTH, '--preset', 'dream', '--scale', scale, '--layout', layout, '--seed', '3', ...extra, '-o', dir], { stdio: 'inherit' });
  }
  return dir;
}

/** Synthetic calibration for a generated model (written once beside it; as `arrowquant-synth --calibration` writes it). */
async function ensureCalibration(dir: string): Promise<string> {
  const file = `${dir}.calib.safetensors`;
  if (!existsSync(file)) {
    process.stderr.write(`generating calibration for ${dir} ...\n`);
    await writeSyntheticCalibration({ modelPath: dir, outPath: file, samples: 128, groups: 10, seed: 3 });
  }
  return file;
}

/** Wall seconds and peak RSS (MiB) of a command, from GNU time. */
function timed(cmd: string, argv: string[]): { seconds: number; rssMiB: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...argv], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').pop()!.split(' ');
  return { seconds: Number(last[0]), rssMiB: Number(last[1]) / 1024 };
}


/** Output on tmpfs (memory, like cat's page-cache reads) and on the benchmark folder's disk. */
const TARGETS: readonly (readonly [string, string])[] = [...(existsSync('/dev/shm') ? [['tmpfs', '/dev/shm'] as const] : []), ['disk', OUT] as const];

function bench(dir: string, label: string, modes: ('threaded' | 'streaming')[], targets: readonly (readonly [string, string])[] = TARGETS, extra: string[] = ['--bits', '4']) {
  const fs = files(dir);
  const bytes = fs.reduce((s, f) => s + statSync(f).size, 0);
  // Warm the page cache, then time cat reading the same files.
  execFileSync('cat', fs, { stdio: ['ignore', 'ignore', 'inherit'] });
  const cat = median(Array.from({ length: runs }, () => timed('sh', ['-c', `cat ${fs.map((f) => `'${f}'`).join(' ')} > /dev/null`]).seconds));
  const rows: string[] = [];
  const results: Record<string, { seconds: number; rssMiB: number }> = {};
  for (const mode of modes) {
    for (const [where, outDir] of targets) {
      const out = join(outDir, `aq-bench-${label}.parquet`);
      const samples = Array.from({ length: runs }, () => timed(process.execPath, [CLI, 'quantize', dir, '-o', out, ...extra, '--mode', mode, '--quiet']));
      rmSync(out, { force: true });
      const r = { seconds: median(samples.map((s) => s.seconds)), rssMiB: Math.max(...samples.map((s) => s.rssMiB)) };
      results[`${mode}/${where}`] = r;
      rows.push(
        `${label.padEnd(10)} ${`${mode}→${where}`.padEnd(16)} ${(bytes / 1e9).toFixed(2).padStart(6)} GB ${r.seconds.toFixed(2).padStart(7)} s ${(bytes / 1e9 / r.seconds).toFixed(2).padStart(6)} GB/s ${(r.seconds / cat).toFixed(2).padStart(6)}× cat ${r.rssMiB.toFixed(0).padStart(6)} MiB`,
      );
    }
  }
  return { rows, cat, bytes, results };
}

console.log(`# pipeline benchmark: ${cpus().length} × ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; median of ${runs} (peak RSS: max)`);
console.log('# model      mode→output        size      time   throughput   vs cat   peak RSS');
const small = bench(ensureModel('dream-1.5gb', '1.5gb', 'single'), 'dream-1.5g', ['threaded', 'streaming']);
for (const r of small.rows) console.log(r);
console.log(`# cat from page cache: ${small.cat.toFixed(3)} s (${(small.bytes / 1e9 / small.cat).toFixed(2)} GB/s)`);
const last = TARGETS[0]![0];
const ratio = small.results[`streaming/${last}`]!.rssMiB / small.results[`threaded/${last}`]!.rssMiB;
console.log(`# streaming/threaded peak RSS: ${(100 * ratio).toFixed(0)}%   threaded→${last} time / cat: ${(small.results[`threaded/${last}`]!.seconds / small.cat).toFixed(2)}× (target ≤ 4×)`);
if (with7b) {
  // The 7B output (~5 GB) goes to disk only: tmpfs would hold it in RAM.
  const big = bench(ensureModel('dream-7b', '7b', 'sharded'), 'dream-7b', ['streaming'], [['disk', OUT]]);
  for (const r of big.rows) console.log(r);
  console.log(`# cat from page cache: ${big.cat.toFixed(3)} s (${(big.bytes / 1e9 / big.cat).toFixed(2)} GB/s)`);
}
if (withDeep) {
  // 150 layers of the 1.5 GB model's widths: ~5 GB, 1,803 tensors (the 1.5 GB one has 363).
  const deep = bench(ensureModel('dream-deep150', '1.5gb', 'sharded', ['--layers', '150']), 'deep-150', ['streaming'], [['disk', OUT]]);
  for (const r of deep.rows) console.log(r);
  console.log(`# cat from page cache: ${deep.cat.toFixed(3)} s (${(deep.bytes / 1e9 / deep.cat).toFixed(2)} GB/s); streaming peak ${deep.results['streaming/disk']!.rssMiB.toFixed(0)} MiB (target ≤ 400 MB = ${(400e6 / 2 ** 20).toFixed(0)} MiB)`);
}
if (withGptq) {
  const dir = ensureModel('dream-1.5gb', '1.5gb', 'single');
  const cal = await ensureCalibration(dir);
  // The largest Hessian the job factors: the widest input (down_proj's), f32.
  const cols = Math.max(DREAM_DIMS['1.5gb'].hidden, DREAM_DIMS['1.5gb'].intermediate);
  const hessianMiB = (cols * cols * 4) / 2 ** 20;
  const g = bench(dir, 'gptq-1.5g', ['streaming', 'threaded'], [['disk', OUT]], ['--method', 'gptq', '--calibration', cal]);
  for (const r of g.rows) console.log(r);
  const target = 400e6 / 2 ** 20 + hessianMiB;
  console.log(`# GPTQ streaming peak ${g.results['streaming/disk']!.rssMiB.toFixed(0)} MiB; target 400 MB + one Hessian (${cols}² f32 = ${hessianMiB.toFixed(0)} MiB) = ${target.toFixed(0)} MiB`);
}
