/** The stages before any chunk runs: inspect (read), calibration, plan, budget. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { beforeAll, describe, expect, test } from 'vitest';

import { OutputPathError } from '../../coordinator/run/errors.js';
import type { JobEvent } from '../../coordinator/run/events.js';
import { SourceFiles } from '../../coordinator/run/source-files.js';
import { fitBudget } from '../../coordinator/run/stages/budget.js';
import { openJobCalibration } from '../../coordinator/run/stages/calibrate.js';
import { inspectModel, modalityEvent, type InspectedModel } from '../../coordinator/run/stages/inspect.js';
import { planEvents, planJob } from '../../coordinator/run/stages/plan.js';
import { config, tinyModel } from './model.js';

let dir: string;
let model: string;
let inspected: InspectedModel;
beforeAll(async () => {
  ({ dir, model } = await tinyModel('dit'));
  inspected = await inspectModel(model, join(dir, 'out.parquet'), config());
});

describe('inspect', () => {
  test('reads every header in file order and detects the modality', () => {
    expect(inspected.headers.map((h) => h.file.rel)).toEqual(inspected.layout.files.map((f) => f.rel));
    expect(inspected.headers.every((h) => h.header.tensors.length > 0)).toBe(true);
    expect(inspected.detected).toBe(true);
    expect(modalityEvent(inspected)).toEqual({ type: 'modality', modality: inspected.modality, reason: inspected.modalityReason, detected: true });
  });

  test('a configured modality wins and says so', async () => {
    const m = await inspectModel(model, join(dir, 'out.parquet'), config({ modality: 'audio' }));
    expect([m.modality, m.modalityReason, m.detected]).toEqual(['audio', 'set by configuration', false]);
  });

  test('refuses an output path that is one of the inputs, before any work', async () => {
    const input = inspected.layout.files[0]!.path;
    await expect(inspectModel(model, input, config())).rejects.toBeInstanceOf(OutputPathError);
  });
});

describe('calibration', () => {
  test('none for a job without calibrated methods', async () => {
    expect(await openJobCalibration(model, inspected.headers, config())).toEqual({});
  });

  test('GPTQ without a file: synthetic statistics, generated once and then cached', async () => {
    const cache = join(dir, 'cache');
    const saved = process.env['ARROW_QUANT_CACHE_DIR'];
    process.env['ARROW_QUANT_CACHE_DIR'] = cache;
    try {
      const first = await openJobCalibration(model, inspected.headers, config({ method: 'gptq' }));
      expect(first.synthetic?.cached).toBe(false);
      expect(first.file?.path).toBe(first.synthetic?.path);
      expect(existsSync(first.synthetic!.path)).toBe(true);
      const again = await openJobCalibration(model, inspected.headers, config({ method: 'gptq' }));
      expect(again.synthetic).toEqual({ path: first.synthetic!.path, cached: true });
      // A named file is used as it is, never a synthetic one.
      const named = await openJobCalibration(model, inspected.headers, config({ method: 'gptq', calibration: first.synthetic!.path }));
      expect(named.synthetic).toBeUndefined();
      expect(named.file?.layers.size).toBe(first.file?.layers.size);
    } finally {
      if (saved === undefined) delete process.env['ARROW_QUANT_CACHE_DIR'];
      else process.env['ARROW_QUANT_CACHE_DIR'] = saved;
    }
  });
});

describe('plan', () => {
  test('every tensor planned, with the run mode and threads, and the plan event', () => {
    const p = planJob(inspected, {}, config({ enable_streaming: true, num_threads: 3 }));
    expect(p.plan.tensors.length).toBe(inspected.headers.reduce((n, h) => n + h.header.tensors.length, 0));
    expect([p.mode, p.threads, p.calibratedTensors]).toEqual(['streaming', 3, 0]);
    const events = planEvents(p, {});
    expect(events).toHaveLength(1);
    const plan = events[0] as Extract<JobEvent, { type: 'plan' }>;
    expect(plan.quantize + plan.keep).toBe(plan.tensors);
    expect(plan.chunks).toBe(p.plan.tensors.reduce((n, t) => n + t.chunks.length, 0));
    expect(plan.mode).toBe('streaming');
  });
});

describe('budget', () => {
  test('without a target the plan and thresholds are untouched and nothing is announced', async () => {
    const c = config();
    const p = planJob(inspected, {}, c);
    const events: JobEvent[] = [];
    const files = await SourceFiles.open(inspected.headers.map((h) => ({ path: h.file.path, rel: h.file.rel, header: h.header })));
    const before = JSON.stringify(p.plan.tensors.map((t) => t.action));
    const out = await fitBudget(p.plan, files, c, new AbortController().signal, (e) => events.push(e));
    expect(out).toEqual({ acceptance: c });
    expect(events).toEqual([]);
    expect(JSON.stringify(p.plan.tensors.map((t) => t.action))).toBe(before);
  });

  test('with a target every tensor gets one rung, the quality gate is off, and the allocation is announced', async () => {
    // Half the source size: the allocation must choose, not just take 8 bits everywhere.
    const target = planJob(inspected, {}, config()).plan.sourceBytes / 2 / 1e9;
    const c = config({ target_memory_gb: target, min_accuracy: 0.999, fail_fast: true });
    const p = planJob(inspected, {}, c);
    const events: JobEvent[] = [];
    const files = await SourceFiles.open(inspected.headers.map((h) => ({ path: h.file.path, rel: h.file.rel, header: h.header })));
    const out = await fitBudget(p.plan, files, c, new AbortController().signal, (e) => events.push(e));
    expect(out.acceptance).toEqual({ ...c, min_accuracy: 0, fail_fast: false });
    expect(events.map((e) => e.type)).toEqual(['budget']);
    expect(out.report?.bytes).toBeLessThanOrEqual(out.report!.targetBytes);
    for (const t of p.plan.tensors) if (t.action.kind === 'quantize') expect(t.action.ladder).toHaveLength(1);
  });
});
