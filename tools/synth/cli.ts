#!/usr/bin/env node
/**
 * Synthetic model generator CLI (no model downloads on test machines; tests and benchmarks use these).
 *
 *   node dist/tools/synth/cli.js --preset dream --scale tiny --layout sharded --seed 1 -o /tmp/m
 *
 * `buildProgram` is exported so tests can drive it in-process (and so `tsc` emits this file when
 * the tests import it).
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';

import { writeSyntheticCalibration } from '../../coordinator/calibration/synthetic-stats.js';
import { generateModel, LAYOUTS, type Layout } from './generate.js';
import { PRESETS, SCALES, type PresetName, type Scale } from './presets.js';

/** "123", "500MB", "1.5GiB" → bytes (decimal k/M/G/T, binary Ki/Mi/Gi/Ti). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(|k|m|g|t|ki|mi|gi|ti)b?\s*$/i.exec(text);
  if (!m) throw new InvalidArgumentError(`not a size: ${text}`);
  const unit = (m[2] ?? '').toLowerCase();
  const pow = { '': 0, k: 1, m: 2, g: 3, t: 4, ki: 1, mi: 2, gi: 3, ti: 4 }[unit] ?? 0;
  const base = unit.endsWith('i') ? 1024 : 1000;
  const v = Math.round(Number(m[1]) * base ** pow);
  if (!(v > 0)) throw new InvalidArgumentError(`size must be positive: ${text}`);
  return v;
}

function parseSeed(text: string): number {
  const v = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(v)) throw new InvalidArgumentError('seed must be a non-negative integer');
  return v;
}

function parsePositive(text: string): number {
  const v = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError('must be a positive integer');
  return v;
}

const human = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(1)} kB`);

export function buildProgram(): Command {
  return new Command('arrowquant-synth')
    .description('Write a deterministic synthetic model (safetensors + configs) with realistic weight statistics')
    .addOption(new Option('--preset <name>', 'architecture').choices(PRESETS).makeOptionMandatory())
    .addOption(new Option('--scale <scale>', 'size').choices(SCALES).default('tiny'))
    .addOption(new Option('--layout <layout>', 'file layout (diffusers: dit and flux)').choices(LAYOUTS).default('single'))
    .option('--seed <n>', 'seed (non-negative integer)', parseSeed, 0)
    .option('--layers <n>', "layer count instead of the scale's (dit, dream, llada), e.g. a deeper model with more tensors", parsePositive)
    .option('--shard-size <size>', 'max data bytes per shard, e.g. 2GB, 500MiB', parseSize)
    .requiredOption('-o, --out <dir>', 'output directory (created; existing files overwritten)')
    .option('-q, --quiet', 'no progress or summary')
    .option('--calibration <file>', 'also write synthetic calibration statistics for the model (docs/CALIBRATION.md)')
    .option('--calibration-samples <n>', 'input rows per layer for --calibration', parseSeed, 128)
    .option('--time-groups <n>', 'timestep groups for --calibration', parseSeed, 10)
    .action(async (o: { preset: PresetName; scale: Scale; layout: Layout; seed: number; layers?: number; shardSize?: number; out: string; quiet?: boolean; calibration?: string; calibrationSamples: number; timeGroups: number }) => {
      let last = 0;
      const r = await generateModel({
        preset: o.preset,
        scale: o.scale,
        layout: o.layout,
        seed: o.seed,
        ...(o.layers !== undefined ? { layers: o.layers } : {}),
        outDir: o.out,
        ...(o.shardSize !== undefined ? { shardBytes: o.shardSize } : {}),
        onProgress: (done, total) => {
          const now = performance.now();
          if (o.quiet || !process.stderr.isTTY || now - last < 250) return;
          last = now;
          process.stderr.write(`\r${human(done)} / ${human(total)} (${((100 * done) / total).toFixed(1)} %)  `);
        },
      });
      if (o.calibration !== undefined) {
        const c = await writeSyntheticCalibration({ modelPath: o.out, outPath: o.calibration, samples: Math.max(1, o.calibrationSamples), groups: Math.max(1, o.timeGroups), seed: o.seed });
        if (!o.quiet) console.log(`calibration: ${o.calibration} (${c.layers} layers, ${human(c.bytes)})`);
      }
      if (o.quiet) return;
      if (process.stderr.isTTY) process.stderr.write('\n');
      for (const f of r.files) console.log(`${f.rel}\t${f.bytes}`);
      console.log(
        `${r.files.length} files, ${r.tensors} tensors, ${human(r.totalBytes)} in ${r.seconds.toFixed(2)} s; ` +
          `${(r.values / r.fillSeconds / 1e6).toFixed(0)} M values/s in fill, ${(r.values / r.seconds / 1e6).toFixed(0)} M values/s overall`,
      );
    });
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
})();
if (invokedDirectly) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exitCode = 1;
    });
}
