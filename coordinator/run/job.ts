/**
 * The quantization job: model directory in, one ArrowQuant Parquet file out. Validates every
 * header and the output path before any work, plans, then streams: a reader walks the chunks in
 * model order (hashing each file as it goes), an executor quantizes them with a bounded number in
 * flight, and tensors are finished (fallbacks) and written strictly in model order. Any error or
 * abort deletes the temporary output; an existing file at the output path is replaced only by a
 * complete new one.
 */
import { realpath } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { availableParallelism } from 'node:os';

import { CONFIG_KEYS, type Modality, type PreserveDtype, type ResolvedConfig } from '../../common/config/index.js';
import { ParquetSink, type FallbackStepJs, type SourceChunk } from '../../common/native.js';
import { fromNative } from '../../common/errors.js';
import type { ChunkOutput, Executor } from '../../common/chunk/job.js';
import { LocalExecutor } from '../../worker/executor/local.js';
import { checkTensorNames, discoverModel, type ModelLayout } from '../model/discover.js';
import { DTYPE_BYTES, isQuantizable } from '../../common/format/dtypes.js';
import { detectModality } from '../model/modality.js';
import { readHeader } from '../model/safetensors.js';
import { planModel, type Plan, type TensorPlan } from '../plan/plan.js';
import type { SchemeChoice } from '../plan/schemes.js';
import { JobAbortedError, OutputPathError } from './errors.js';
import { Semaphore } from './semaphore.js';
import { SourceFiles, type SourceHash } from './source-files.js';
import { ChunkQueue } from './chunk-queue.js';
import { finishTensor, keptOutcome, keptRow, pushRow, type TensorOutcome } from './tensor.js';
import { calibrationFooter, openCalibration, type CalibrationFile } from '../calibration/file.js';
import { syntheticCalibration } from '../calibration/synthetic.js';
import { CalibrationReader, layerFor, layerSpecFor, prepareLayer, releaseLayer, type PreparedLayer } from './layer.js';
import { JobTelemetry } from './telemetry.js';
import { applyBudget, type BudgetReport } from './budget.js';

export type JobEvent =
  | { type: 'modality'; modality: Modality; reason: string; detected: boolean }
  | { type: 'plan'; tensors: number; quantize: number; keep: number; sourceBytes: number; chunks: number; mode: 'streaming' | 'threaded' }
  | { type: 'tensor'; outcome: TensorOutcome; done: number; bytesDone: number }
  | { type: 'fallback'; tensor: string; from: string; to: string; cosine: number; threshold: number }
  | { type: 'budget'; report: BudgetReport }
  | { type: 'calibration'; file?: string; synthetic?: { path: string; cached: boolean }; layers: number; used: number; warnings: { tensor: string; message: string }[] };

export interface JobOptions {
  modelPath: string;
  outputPath: string;
  config: ResolvedConfig;
  executor?: Executor;
  signal?: AbortSignal;
  onEvent?: (e: JobEvent) => void;
}

export interface JobSummary {
  tensors: number;
  quantized: number;
  kept: number;
  sourceBytes: number;
  payloadBytes: number;
  fileBytes: number;
  compressionRatio: number;
  minCosine: number;
  meanCosine: number;
  fallbacks: number;
  rowGroups: number;
}

export interface JobResult {
  outputPath: string;
  modality: Modality;
  modalityReason: string;
  summary: JobSummary;
  tensors: TensorOutcome[];
  sources: SourceHash[];
  layout: ModelLayout;
  mode: 'streaming' | 'threaded';
  seconds: number;
}

/** Keys that change how the job runs but not what it writes; kept out of the file. */
const EXECUTION_KEYS = new Set(['num_threads', 'enable_streaming']);

export function fileConfig(config: ResolvedConfig): string {
  const picked: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) if (!EXECUTION_KEYS.has(k)) picked[k] = config[k];
  return JSON.stringify(picked);
}

async function checkOutput(outputPath: string, inputs: string[]): Promise<void> {
  const out = await realpath(outputPath).catch(() => resolve(outputPath));
  for (const input of inputs) {
    if ((await realpath(input)) === out) throw new OutputPathError(outputPath, 'is one of the model\'s input files; choose another output path');
  }
}

/** Figures over the written tensors (the file size and row groups are added once it is closed). */
function summarize(outcomes: TensorOutcome[], plan: Plan): Omit<JobSummary, 'fileBytes' | 'compressionRatio' | 'rowGroups'> {
  const quantized = outcomes.filter((o) => o.method !== 'keep');
  const cos = quantized.map((o) => o.quality.cosine);
  return {
    tensors: outcomes.length,
    quantized: quantized.length,
    kept: outcomes.length - quantized.length,
    sourceBytes: plan.sourceBytes,
    payloadBytes: outcomes.reduce((s, o) => s + o.payloadBytes, 0),
    minCosine: cos.length ? Math.min(...cos) : 1,
    meanCosine: cos.length ? cos.reduce((a, b) => a + b, 0) / cos.length : 1,
    fallbacks: outcomes.reduce((s, o) => s + o.fallbacks.length, 0),
  };
}

export async function runQuantizeJob(opts: JobOptions): Promise<JobResult> {
  const started = performance.now();
  const { config } = opts;
  const emit = opts.onEvent ?? (() => {});
  const controller = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;

  // Everything is validated before any work.
  const layout = await discoverModel(opts.modelPath);
  const headers = [];
  for (const file of layout.files) headers.push({ file, header: await readHeader(file.path) });
  checkTensorNames(layout, headers.map((h) => ({ file: h.file, names: new Set(h.header.tensors.map((t) => t.name)) })));
  await checkOutput(opts.outputPath, layout.files.map((f) => f.path));
  const detected = detectModality(layout.configs.map((c) => ({ file: relative(layout.root, c.file) || c.file, json: c.json })));
  const modality = config.modality ?? detected.modality;
  const modalityReason = config.modality ? 'set by configuration' : detected.reason;
  emit({ type: 'modality', modality, reason: modalityReason, detected: !config.modality });

  // GPTQ asked for without a calibration file: synthetic statistics (cached), with a warning.
  const wantsGptq = config.method === 'gptq' || config.overrides.some((o) => o.method === 'gptq');
  let synthetic: { path: string; cached: boolean } | undefined;
  if (config.calibration === null && wantsGptq) synthetic = await syntheticCalibration(opts.modelPath, headers, config);
  const calibPath = config.calibration !== null ? resolve(config.calibration) : synthetic?.path;
  const calib: CalibrationFile | undefined = calibPath !== undefined ? await openCalibration(calibPath) : undefined;
  const plan = planModel(headers, config, { modality, ...(calib ? { calibration: calib } : {}) });
  const calibrated = plan.tensors.filter((t) => t.action.kind === 'quantize' && t.action.layer).length;
  if (calib || plan.calibrationWarnings.length > 0) {
    emit({
      type: 'calibration',
      ...(calib ? { file: calib.path } : {}),
      ...(synthetic ? { synthetic } : {}),
      layers: calib?.layers.size ?? 0,
      used: calibrated,
      warnings: plan.calibrationWarnings,
    });
  }
  const mode = config.enable_streaming ? 'streaming' : 'threaded';
  const threads = config.num_threads === 0 ? availableParallelism() : config.num_threads;
  emit({
    type: 'plan',
    tensors: plan.tensors.length,
    quantize: plan.tensors.filter((t) => t.action.kind === 'quantize').length,
    keep: plan.tensors.filter((t) => t.action.kind === 'keep').length,
    sourceBytes: plan.sourceBytes,
    chunks: plan.tensors.reduce((s, t) => s + t.chunks.length, 0),
    mode,
  });

  const executor: Executor = opts.executor ?? new LocalExecutor(config.num_threads);
  const telemetry = new JobTelemetry(
    { 'arrowquant.model': resolve(opts.modelPath), 'arrowquant.output': resolve(opts.outputPath), 'arrowquant.modality': modality, 'arrowquant.mode': mode, 'arrowquant.tensors': plan.tensors.length, 'arrowquant.source_bytes': plan.sourceBytes },
    executor.description,
  );
  const calibReader = calib ? new CalibrationReader(calib) : undefined;
  const prepared: (PreparedLayer | undefined)[] = [];
  const startedAt: number[] = [];
  const files = await SourceFiles.open(headers.map((h) => ({ path: h.file.path, rel: h.file.rel, header: h.header })));
  // A memory budget rewrites the plan from measured errors before anything is written.
  let budget: BudgetReport | undefined;
  if (config.target_memory_gb !== null) {
    try {
      budget = await applyBudget(plan, files, config, signal);
    } catch (err) {
      await files.close();
      throw err;
    }
    emit({ type: 'budget', report: budget });
  }
  // With a budget the allocation has weighed quality already: every tensor takes its one rung.
  const acceptance = budget ? { ...config, min_accuracy: 0, fail_fast: false } : config;
  let sink: ParquetSink | undefined;
  try {
    sink = ParquetSink.create(resolve(opts.outputPath), {
      'arrowquant.config': fileConfig(config),
      'arrowquant.modality': modality,
      'arrowquant.modality_reason': modalityReason,
    });
  } catch (err) {
    await files.close();
    throw fromNative(err);
  }

  // A process exit while the job runs (a second Ctrl-C, an uncaught error) still removes the
  // temporary file: abort() is synchronous.
  const removeTemp = () => sink?.abort();
  process.once('exit', removeTemp);

  // Streaming: one chunk in memory at a time (the kernel splits it across threads). Threaded:
  // one chunk per thread in flight, so reads overlap the kernels. More read-ahead was slower on
  // the benchmark machine (2 cores: 3 in flight and 6 chunks ahead took 2.1 s where 2 and 4 took
  // 1.4 s for 1.44 GB; benches/RESULTS.md).
  const slots = executor.inFlight ?? (mode === 'streaming' ? 1 : threads);
  const inFlight = new Semaphore(slots, signal);
  // Read-ahead is bounded in source bytes of tensors read but not yet written (the tensor at the
  // head may always start): streaming holds about one chunk, threaded two per thread.
  const chunkBytes = config.chunk_mib * 1024 * 1024;
  const aheadBudget = executor.inFlight !== undefined ? 2 * slots * chunkBytes : mode === 'streaming' ? chunkBytes : 2 * threads * chunkBytes;

  const quantizeChunk = async (t: TensorPlan, chunkIndex: number, choice: SchemeChoice, data: SourceChunk): Promise<ChunkOutput> => {
    const c = t.chunks[chunkIndex]!;
    if (!isQuantizable(t.dtype)) throw new Error(`internal: ${t.name} (${t.dtype}) planned for quantization`);
    const layer = layerFor(prepared[t.index], choice);
    const layerSpec = layerSpecFor(prepared[t.index], choice);
    const job = {
      tensorIndex: t.index,
      chunkIndex,
      tensorName: t.name,
      dtype: t.dtype,
      rows: c.rowCount,
      cols: t.cols,
      scheme: choice.scheme,
      rowStart: c.rowStart,
      data,
      source: { path: resolve(t.file.path), offset: c.offset, length: c.length },
      ...(layer ? { layer } : {}),
      ...(layerSpec ? { layerSpec } : {}),
    };
    // The kernel is done with the source bytes: free them now, not at the next GC.
    return telemetry.chunk(t, chunkIndex, choice, c.length, () => executor.run(job)).finally(() => data.release());
  };
  // Fallback rungs and last-resort keeps read the tensor again (not hashed: the first pass did).
  const rerun = (t: TensorPlan) => (choice: SchemeChoice) =>
    Promise.all(
      t.chunks.map(async (c) => {
        await inFlight.acquire();
        try {
          return await quantizeChunk(t, c.chunkIndex, choice, await files.read(t.file.path, c.offset, c.length, false));
        } finally {
          inFlight.release();
        }
      }),
    );

  // First pass, in model order. Quantized chunks are dispatched as they are read; kept chunks
  // are handed to the writer through a small queue, so a huge kept embedding never sits in
  // memory whole.
  type FirstPass = { kind: 'quantize'; results: Promise<ChunkOutput[]> } | { kind: 'keep'; queue: ChunkQueue<SourceChunk> };
  const firstPass: (FirstPass | undefined)[] = [];
  const liveQueues = new Set<ChunkQueue<SourceChunk>>();
  const announce: (() => void)[] = [];
  const announced = plan.tensors.map(() => new Promise<void>((r) => announce.push(r)));
  let written = 0;
  let aheadBytes = 0;
  let wake: (() => void) | undefined;
  const onAbort = () => {
    wake?.();
    for (const q of liveQueues) q.fail(signal.reason);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const waitForWriter = async (t: TensorPlan) => {
    while (t.index > written && aheadBytes + t.bytes > aheadBudget) {
      signal.throwIfAborted();
      await new Promise<void>((r) => (wake = r));
    }
    signal.throwIfAborted();
  };

  const reader = (async () => {
    for (const t of plan.tensors) {
      await waitForWriter(t);
      aheadBytes += t.bytes;
      telemetry.tensorStart(t);
      startedAt[t.index] = performance.now();
      if (t.action.kind === 'keep') {
        const queue = new ChunkQueue<SourceChunk>(mode === 'streaming' ? 1 : threads);
        liveQueues.add(queue);
        firstPass[t.index] = { kind: 'keep', queue };
        announce[t.index]!();
        for (const c of t.chunks) await queue.put(await files.read(t.file.path, c.offset, c.length, true));
        continue;
      }
      // A calibrated tensor is prepared first; smoothing reads (and hashes) the tensor once.
      let hashed = false;
      if (t.action.layer) {
        if (!calibReader) throw new Error(`internal: ${t.name} planned with calibration but none is open`);
        const use = t.action.layer;
        prepared[t.index] = await prepareLayer(t, use, t.action.ladder[0]!, calibReader, (c) => files.read(t.file.path, c.offset, c.length, true), config, signal);
        hashed = use.smoothing;
      }
      const parts: Promise<ChunkOutput>[] = [];
      for (const c of t.chunks) {
        await inFlight.acquire();
        let data: SourceChunk;
        try {
          data = await files.read(t.file.path, c.offset, c.length, !hashed);
        } catch (err) {
          inFlight.release();
          throw err;
        }
        const part = quantizeChunk(t, c.chunkIndex, t.action.ladder[0]!, data).finally(() => inFlight.release());
        // Observed by the writer through Promise.all below; until then a failure (a NaN in this
        // chunk) must not count as an unhandled rejection while later chunks are still read.
        part.catch(() => {});
        parts.push(part);
      }
      const results = Promise.all(parts);
      results.catch(() => {});
      firstPass[t.index] = { kind: 'quantize', results };
      announce[t.index]!();
    }
  })();
  const readerFailed = reader.then(
    () => new Promise<never>(() => {}),
    (err: unknown) => Promise.reject(err),
  );
  readerFailed.catch(() => {});

  /** Write a kept tensor chunk by chunk; only the figures stay in memory. */
  const streamKept = async (t: TensorPlan, preserve: PreserveDtype, fallbacks: FallbackStepJs[], requestedBits: number, nextChunk: () => Promise<SourceChunk>) => {
    const figures = [];
    let payload = 0;
    for (const c of t.chunks) {
      const pending = await keptRow(t, c.chunkIndex, await nextChunk(), preserve, fallbacks, requestedBits);
      await pushRow(sink!, pending);
      payload += pending.bytes;
      figures.push(pending.row.quality);
    }
    return keptOutcome(t, preserve, figures, fallbacks, requestedBits, payload);
  };

  const outcomes: TensorOutcome[] = [];
  let bytesDone = 0;
  const writer = (async () => {
    for (const t of plan.tensors) {
      await Promise.race([announced[t.index], readerFailed]);
      signal.throwIfAborted();
      const first = firstPass[t.index]!;
      let outcome: TensorOutcome;
      if (first.kind === 'keep' && t.action.kind === 'keep') {
        const bits = 8 * DTYPE_BYTES[t.dtype]!;
        outcome = await streamKept(t, t.action.storeDtype, [], bits, () => first.queue.take());
        liveQueues.delete(first.queue);
      } else if (first.kind === 'quantize' && t.action.kind === 'quantize') {
        const p = prepared[t.index];
        const extras = { ...(p?.channelScales ? { channelScales: p.channelScales, alpha: p.alpha! } : {}), ...(p?.timeGroups ? { timeGroups: p.timeGroups } : {}) };
        const done = await finishTensor(t, t.action.ladder, t.action.requestedBits, acceptance, first.results, rerun(t), extras);
        releaseLayer(p);
        prepared[t.index] = undefined;
        if (done.keep) {
          let next = 0;
          outcome = await streamKept(t, 'source', done.fallbacks, t.action.requestedBits, () => {
            const c = t.chunks[next++]!;
            return files.read(t.file.path, c.offset, c.length, false);
          });
        } else {
          outcome = done.outcome;
          for (const row of done.rows) {
            signal.throwIfAborted();
            await pushRow(sink!, row);
          }
        }
      } else {
        throw new Error(`internal: ${t.name} first pass does not match its plan`);
      }
      outcome.seconds = (performance.now() - startedAt[t.index]!) / 1000;
      telemetry.tensorEnd(t, outcome, t.action.kind === 'quantize' ? t.action.ladder : undefined);
      for (const f of outcome.fallbacks) emit({ type: 'fallback', tensor: t.name, from: f.fromScheme, to: f.toScheme, cosine: f.cosine, threshold: f.threshold });
      firstPass[t.index] = undefined;
      outcomes.push(outcome);
      written = t.index + 1;
      aheadBytes -= t.bytes;
      wake?.();
      bytesDone += t.bytes;
      emit({ type: 'tensor', outcome, done: written, bytesDone });
    }
  })();
  writer.catch(() => {});

  try {
    await Promise.all([reader, writer]);
    const sources = files.hashes();
    // The footer gets the figures known before the file is closed; the file size is added after.
    const deterministic = summarize(outcomes, plan);
    const written$ = await sink.finish({
      'arrowquant.sources': JSON.stringify(sources),
      'arrowquant.summary': JSON.stringify(deterministic),
      ...(calib ? { 'arrowquant.calibration': calibrationFooter(calib, calibrated) } : {}),
    });
    const fileBytes = written$.bytes;
    telemetry.end();
    const summary: JobSummary = { ...deterministic, fileBytes, compressionRatio: fileBytes > 0 ? plan.sourceBytes / fileBytes : 0, rowGroups: written$.rowGroups };
    return {
      outputPath: resolve(opts.outputPath),
      modality,
      modalityReason,
      summary,
      tensors: outcomes,
      sources,
      layout,
      mode,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (err) {
    telemetry.end(err);
    controller.abort(err);
    sink.abort();
    // Both sides stop before the files close: nothing touches the sink or the files after this.
    await Promise.allSettled([reader, writer]);
    if (opts.signal?.aborted && err === opts.signal.reason) throw new JobAbortedError(err);
    throw fromNative(err);
  } finally {
    sink.abort();
    prepared.forEach(releaseLayer);
    process.off('exit', removeTemp);
    signal.removeEventListener('abort', onAbort);
    await files.close();
    if (!opts.executor) await executor.close();
  }
}
