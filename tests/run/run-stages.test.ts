/**
 * The stages that run chunks: the read-ahead window, the reader → writer handoff, the chunk runner
 * (execute), the first-pass reader, the tensor writer with its quality gate, and the output file.
 * A fake executor stands in for the kernels where the test is about scheduling, not codes.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { beforeAll, describe, expect, test } from 'vitest';

import type { ChunkJob, ChunkOutput, Executor } from '../../common/chunk/job.js';
import type { ResolvedConfig } from '../../common/config/index.js';
import { exactQuality } from '../../common/format/quality.js';
import { openQuantized } from '../../common/format/reader.js';
import type { JobEvent } from '../../coordinator/run/events.js';
import { SourceFiles } from '../../coordinator/run/source-files.js';
import { ChunkRunner } from '../../coordinator/run/stages/execute.js';
import { Handoff } from '../../coordinator/run/stages/handoff.js';
import { inspectModel, type InspectedModel } from '../../coordinator/run/stages/inspect.js';
import { OutputFile } from '../../coordinator/run/stages/output.js';
import { TensorPipeline } from '../../coordinator/run/stages/pipeline.js';
import { planJob } from '../../coordinator/run/stages/plan.js';
import { FirstPassReader } from '../../coordinator/run/stages/read.js';
import { concurrencyFor, heldBytes, ReadAheadWindow } from '../../coordinator/run/stages/read-ahead.js';
import { JobTelemetry } from '../../coordinator/run/telemetry.js';
import { config, tinyModel } from './model.js';

/** Records every job; answers with an empty payload of the given cosine after `delayMs`. */
class FakeExecutor implements Executor {
  readonly description = 'fake';
  readonly jobs: Omit<ChunkJob, 'data'>[] = [];
  running = 0;
  maxRunning = 0;
  constructor(private readonly cosine = 1, private readonly delayMs = 2, readonly inFlight?: number) {}
  async run(job: ChunkJob): Promise<ChunkOutput> {
    const { data: _data, ...rest } = job;
    this.jobs.push(rest);
    this.maxRunning = Math.max(this.maxRunning, ++this.running);
    await sleep(this.delayMs);
    this.running--;
    const n = job.rows * job.cols;
    const quality = { ...exactQuality(n), cosine: this.cosine, sumXx: n, sumYy: n, sumXy: this.cosine * n, sumEe: 1 };
    return { quality, payload: { kind: 'bytes', codes: Buffer.alloc(1), scales: Buffer.alloc(4), zeros: Buffer.alloc(0) } };
  }
  async close(): Promise<void> {}
}

let dir: string;
let inspected: InspectedModel;
beforeAll(async () => {
  let model: string;
  ({ dir, model } = await tinyModel('dit'));
  inspected = await inspectModel(model, join(dir, 'out.parquet'), config());
});

const openFiles = () => SourceFiles.open(inspected.headers.map((h) => ({ path: h.file.path, rel: h.file.rel, header: h.header })));
const telemetry = (executor: Executor) => new JobTelemetry({}, executor.description);

describe('read-ahead', () => {
  test('in flight and ahead: one chunk streaming, two per thread threaded, the executor\'s own count when it has one', () => {
    const c = config({ chunk_mib: 2 });
    const MiB = 1 << 20;
    expect(concurrencyFor(undefined, 'streaming', 4, c)).toEqual({ inFlight: 1, aheadBytes: 2 * MiB, keptQueue: 1 });
    expect(concurrencyFor(undefined, 'threaded', 4, c)).toEqual({ inFlight: 4, aheadBytes: 16 * MiB, keptQueue: 4 });
    expect(concurrencyFor(16, 'threaded', 4, c)).toEqual({ inFlight: 16, aheadBytes: 64 * MiB, keptQueue: 4 });
  });

  test('the window holds the reader back until the writer catches up; the head tensor always starts', async () => {
    const w = new ReadAheadWindow(100, new AbortController().signal);
    await w.admit({ index: 0, bytes: 500 }); // the head, however large
    let admitted = false;
    const next = w.admit({ index: 1, bytes: 10 }).then(() => (admitted = true));
    await sleep(5);
    expect(admitted).toBe(false);
    w.written({ index: 0, bytes: 500 });
    await next;
    expect([admitted, w.ahead]).toEqual([true, 10]);
  });

  test("a calibrated layer counts GPTQ's factor of its Hessian in the window (the Hessian itself stays in the file)", () => {
    const t = planJob(inspected, {}, config({})).plan.tensors.find((x) => x.action.kind === 'quantize')!;
    if (t.action.kind !== 'quantize') throw new Error('unreachable');
    expect(heldBytes(t)).toEqual({ index: t.index, bytes: t.bytes });
    const hessian = { name: 'x.hessian', dtype: 'F32', shape: [t.cols, t.cols], begin: 1000, end: 1000 + 4 * t.cols * t.cols };
    const use = { stats: { prefix: 'x', inFeatures: t.cols, hessian }, hessian: false, smoothing: false, timeAware: true, measure: false };
    const withLayer = (layer: typeof use) => ({ ...t, action: { ...t.action, layer } }) as typeof t;
    expect(heldBytes(withLayer(use)).bytes).toBe(t.bytes);
    // Measuring and smoothing read the Hessian from the file; GPTQ holds its factor.
    expect(heldBytes(withLayer({ ...use, measure: true, smoothing: true })).bytes).toBe(t.bytes);
    expect(heldBytes(withLayer({ ...use, measure: true, hessian: true })).bytes).toBe(t.bytes + 4 * t.cols * t.cols);
  });

  test('an abort wakes a waiting reader with the reason', async () => {
    const controller = new AbortController();
    const w = new ReadAheadWindow(1, controller.signal);
    await w.admit({ index: 0, bytes: 5 });
    const waiting = w.admit({ index: 1, bytes: 5 });
    controller.abort(new Error('stop'));
    w.interrupt();
    await expect(waiting).rejects.toThrow('stop');
  });
});

describe('handoff', () => {
  test('the writer gets each first pass once announced, and stops when the reader fails', async () => {
    const h = new Handoff(2);
    let failReader!: (e: Error) => void;
    h.watch(new Promise<void>((_, reject) => (failReader = reject)));
    const results = Promise.resolve([]);
    h.begin(0);
    h.announce(0, { kind: 'quantize', results });
    expect(await h.next(0)).toEqual({ kind: 'quantize', results });
    expect(h.secondsSince(0)).toBeGreaterThanOrEqual(0);
    const waiting = h.next(1);
    failReader(new Error('bad file'));
    await expect(waiting).rejects.toThrow('bad file');
  });

  test('an abort fails every kept tensor\'s queue', async () => {
    const h = new Handoff(1);
    const q = h.keptQueue(1);
    const taking = q.take();
    h.fail(new Error('aborted'));
    await expect(taking).rejects.toThrow('aborted');
  });
});

describe('execute', () => {
  test('a chunk job carries the chunk\'s header, the canonical scheme and where its bytes are; the bytes are freed after', async () => {
    const files = await openFiles();
    const planned = planJob(inspected, {}, config());
    const t = planned.plan.tensors.find((x) => x.action.kind === 'quantize' && x.chunks.length > 0)!;
    const fake = new FakeExecutor();
    const runner = new ChunkRunner(fake, files, telemetry(fake), 2, new AbortController().signal);
    const choice = t.action.kind === 'quantize' ? t.action.ladder[0]! : undefined;
    const c = t.chunks[0]!;
    const data = await files.read(t.file.path, c.offset, c.length, false);
    await runner.quantize(t, 0, choice!, data);
    expect(fake.jobs[0]).toEqual({ tensorIndex: t.index, chunkIndex: 0, tensorName: t.name, dtype: t.dtype, rows: c.rowCount, cols: t.cols, scheme: choice!.scheme, rowStart: c.rowStart, source: { path: t.file.path, offset: c.offset, length: c.length } });
    expect(() => data.bytes()).toThrow();
  });

  test('a rung reruns every chunk of the tensor, never more than the slots at once', async () => {
    const files = await openFiles();
    const planned = planJob(inspected, {}, config({ chunk_mib: 1 }));
    const t = planned.plan.tensors.filter((x) => x.action.kind === 'quantize').sort((a, b) => b.chunks.length - a.chunks.length)[0]!;
    const fake = new FakeExecutor(1, 5);
    const runner = new ChunkRunner(fake, files, telemetry(fake), 1, new AbortController().signal);
    const choice = t.action.kind === 'quantize' ? t.action.ladder.at(-1)! : undefined;
    const out = await runner.rung(t)(choice!);
    expect(out).toHaveLength(t.chunks.length);
    expect(fake.jobs.map((j) => [j.chunkIndex, j.scheme])).toEqual(t.chunks.map((c) => [c.chunkIndex, choice!.scheme]));
    expect(fake.maxRunning).toBe(1);
  });
});

describe('read', () => {
  test('tensors are announced in model order, chunks dispatched in model order, within the window', async () => {
    const files = await openFiles();
    const c = config({ chunk_mib: 1 });
    const planned = planJob(inspected, {}, c);
    const fake = new FakeExecutor(1, 1);
    const signal = new AbortController().signal;
    const runner = new ChunkRunner(fake, files, telemetry(fake), 2, signal);
    const budget = 1 << 20;
    const window = new ReadAheadWindow(budget, signal);
    const handoff = new Handoff(planned.plan.tensors.length);
    const reader = new FirstPassReader({ plan: planned.plan, files, runner, window, handoff, telemetry: telemetry(fake), calibration: undefined, config: c, keptQueue: 1 });
    const running = reader.run();
    handoff.watch(running);
    let maxAhead = 0;
    for (const t of planned.plan.tensors) {
      const first = await handoff.next(t.index);
      expect(first.kind).toBe(t.action.kind);
      if (first.kind === 'keep') for (let i = 0; i < t.chunks.length; i++) (await first.queue.take()).release();
      else expect(await first.results).toHaveLength(t.chunks.length);
      maxAhead = Math.max(maxAhead, window.ahead);
      // Beyond the budget only when the head tensor alone is larger.
      if (window.ahead > budget) expect(window.ahead).toBe(t.bytes);
      handoff.done(t.index);
      window.written(t);
    }
    await running;
    const order = fake.jobs.map((j) => [j.tensorIndex, j.chunkIndex]);
    expect(order).toEqual([...order].sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!));
    expect(maxAhead).toBeGreaterThan(0);
  });
});

describe('write', () => {
  test('below min_accuracy every rung is tried, then the tensor is kept exactly; each step is reported and stored', async () => {
    const files = await openFiles();
    const c: ResolvedConfig = config({ min_accuracy: 0.99, method: 'rtn', bit_width: 2 });
    const planned = planJob(inspected, {}, c);
    const fake = new FakeExecutor(0.5, 0);
    const events: JobEvent[] = [];
    const path = join(dir, 'fallbacks.parquet');
    const output = OutputFile.create(path, {});
    const signal = new AbortController().signal;
    const pipeline = new TensorPipeline({ planned, plan: planned.plan, files, executor: fake, output, telemetry: telemetry(fake), calibration: undefined, config: c, acceptance: c, emit: (e) => events.push(e), signal });
    const outcomes = await pipeline.run();
    await output.finish({});
    output.close();
    pipeline.dispose();
    const quantized = planned.plan.tensors.filter((t) => t.action.kind === 'quantize');
    expect(quantized.length).toBeGreaterThan(0);
    for (const t of quantized) {
      if (t.action.kind !== 'quantize') continue;
      const o = outcomes[t.index]!;
      expect(o.method).toBe('keep');
      expect(o.fallbacks.map((f) => f.fromScheme)).toEqual(t.action.ladder.map((r) => r.scheme));
      // Every rung ran every chunk.
      expect(fake.jobs.filter((j) => j.tensorIndex === t.index)).toHaveLength(t.chunks.length * t.action.ladder.length);
    }
    expect(events.filter((e) => e.type === 'fallback')).toHaveLength(quantized.reduce((n, t) => n + (t.action.kind === 'quantize' ? t.action.ladder.length : 0), 0));
    expect(events.filter((e) => e.type === 'tensor').map((e) => (e.type === 'tensor' ? e.done : 0))).toEqual(planned.plan.tensors.map((t) => t.index + 1));
    const file = await openQuantized(path);
    expect(file.tensors.map((t) => t.method)).toEqual(planned.plan.tensors.map(() => 'keep'));
  });
});

describe('output', () => {
  test('until finished, the file exists only as a temporary one; abort removes it and close drops the exit hook', () => {
    const out = join(dir, 'aborted', 'x.parquet');
    const exitHooks = process.listenerCount('exit');
    const before = () => (existsSync(join(dir, 'aborted')) ? readdirSync(join(dir, 'aborted')) : []);
    mkdirSync(join(dir, 'aborted'), { recursive: true });
    const f = OutputFile.create(out, { 'arrowquant.config': '{}' });
    expect(process.listenerCount('exit')).toBe(exitHooks + 1);
    expect(before().length).toBe(1);
    expect(existsSync(out)).toBe(false);
    f.abort();
    expect(before()).toEqual([]);
    f.close();
    expect(process.listenerCount('exit')).toBe(exitHooks);
  });
});
