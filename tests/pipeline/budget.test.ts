/**
 * `--target-memory-gb`: per-tensor widths (2/4/8 bits or kept) chosen from measured errors to fit
 * the budget; more budget never loses quality; a budget below the smallest plan, or a method
 * without a bit width, is a named configuration error. Plus the allocator on its own.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'vitest';

import { openQuantized } from '../../common/format/reader.js';
import { allocate, BudgetTooSmall, type BudgetItem } from '../../coordinator/plan/budget.js';
import { jsonLines, runCli, synth, tempDir } from '../helpers/cli.js';

test('the allocator fits the budget and never does worse than any uniform plan that fits', () => {
  // Deterministic pseudo-random tensors: bytes grow with width, loss falls.
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const items: BudgetItem[] = Array.from({ length: 40 }, (_, i) => {
    const n = 1000 + Math.floor(rnd() * 100000);
    const hard = 0.5 + 4 * rnd();
    return {
      index: i,
      options: [
        { width: 2, bytes: n * 0.3, loss: n * 0.1 * hard },
        { width: 4, bytes: n * 0.55, loss: n * 0.01 * hard },
        { width: 8, bytes: n * 1.05, loss: n * 0.00005 * hard },
        { width: 'keep' as const, bytes: n * 2, loss: 0 },
      ],
    };
  });
  const fixed = 12345;
  for (const k of [0, 1, 2, 3]) {
    const uniformBytes = fixed + items.reduce((s, it) => s + it.options[k]!.bytes, 0);
    const uniformLoss = items.reduce((s, it) => s + it.options[k]!.loss, 0);
    for (const slack of [1, 1.2]) {
      const a = allocate(items, fixed, uniformBytes * slack);
      assert.ok(a.bytes <= uniformBytes * slack);
      assert.ok(a.loss <= uniformLoss + 1e-9, `width #${k}: ${a.loss} > uniform ${uniformLoss}`);
    }
  }
  const min = fixed + items.reduce((s, it) => s + it.options[0]!.bytes, 0);
  assert.throws(() => allocate(items, fixed, min - 1), (e: unknown) => e instanceof BudgetTooSmall && e.minimumBytes === min);
});

test('--target-memory-gb picks widths per tensor to fit, and more budget loses less', async () => {
  const dir = tempDir('budget');
  await synth('dit', 'single', join(dir, 'dit'));
  const model = join(dir, 'dit');
  // The smallest plan, from the error a 1-byte budget gets.
  const tooSmall = await runCli(['quantize', model, '-o', join(dir, 'x.parquet'), '--target-memory-gb', '1e-9']);
  assert.equal(tooSmall.code, 2);
  const m = /even the smallest plan needs ([\d.]+) GB/.exec(tooSmall.stderr);
  assert.ok(m, tooSmall.stderr);
  const full = await runCli(['quantize', model, '-o', join(dir, 'full.parquet'), '--target-memory-gb', '1']);
  assert.equal(full.code, 0, full.stderr);
  const fullFile = await openQuantized(join(dir, 'full.parquet'));
  assert.ok(fullFile.tensors.every((t) => t.method === 'keep'), 'a budget above the source size keeps everything');
  const source = fullFile.tensors.reduce((s, t) => s + t.storedBytes, 0);

  const smallest = Number(m[1]) * 1e9;
  let lastCosine = 0;
  for (const frac of [0.15, 0.4, 0.7]) {
    const target = smallest + frac * (source - smallest);
    const out = join(dir, `b${frac}.parquet`);
    const r = await runCli(['quantize', model, '-o', out, '--target-memory-gb', String(target / 1e9)]);
    assert.equal(r.code, 0, r.stderr);
    const report = (jsonLines(r.stderr).find((e) => e.event === 'budget') as { report?: unknown } & Record<string, unknown>)!;
    const f = await openQuantized(out);
    const stored = f.tensors.reduce((s, t) => s + t.storedBytes, 0);
    assert.ok(stored <= target, `${frac}: ${stored} > ${target}`);
    assert.equal(report.bytes, stored, 'the planned bytes are what was written');
    assert.equal(JSON.parse(f.metadata['arrowquant.summary']!).fallbacks, 0);
    const quantized = f.tensors.filter((t) => t.method !== 'keep');
    assert.ok(new Set(quantized.map((t) => t.bits)).size >= 1);
    // Mean cosine over every tensor (kept ones count as 1): grows with the budget.
    const mean = f.tensors.reduce((s, t) => s + t.quality.cosine, 0) / f.tensors.length;
    assert.ok(mean >= lastCosine - 1e-12, `${frac}: mean cosine ${mean} < ${lastCosine}`);
    lastCosine = mean;
  }
  const fixedWidth = await runCli(['quantize', model, '-o', join(dir, 'q.parquet'), '--target-memory-gb', '1', '--method', 'q4_0']);
  assert.equal(fixedWidth.code, 2);
  assert.match(fixedWidth.stderr, /target_memory_gb needs a method with a bit width \(rtn, rtn_sym, hqq\)/);
});
