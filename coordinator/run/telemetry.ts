/**
 * The job's spans and metrics (see common/telemetry.ts for what is exported and when). With no
 * SDK started every call here is a no-op of the OpenTelemetry API.
 */
import { context, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';

import { meter, tracer } from '../../common/telemetry.js';
import type { TensorPlan } from '../plan/plan.js';
import type { SchemeChoice } from '../plan/schemes.js';
import type { TensorOutcome } from './tensor.js';

const qualified = (t: TensorPlan) => (t.component !== undefined ? `${t.component}/${t.name}` : t.name);

export class JobTelemetry {
  private readonly tracer = tracer();
  private readonly job: Span;
  private readonly jobCtx: Context;
  private readonly started = performance.now();
  private readonly tensors = new Map<number, { span: Span; ctx: Context; t0: number }>();
  private readonly m = (() => {
    const m = meter();
    return {
      tensors: m.createCounter('arrowquant.tensors', { description: 'tensors written, by method, bits and outcome (quantized or kept)' }),
      bytes: m.createCounter('arrowquant.bytes', { description: 'source bytes written, by method', unit: 'By' }),
      chunk: m.createHistogram('arrowquant.chunk.duration', { description: 'time to quantize one chunk', unit: 's' }),
      tensor: m.createHistogram('arrowquant.tensor.duration', { description: 'time from a tensor\'s first read to its rows written', unit: 's' }),
      job: m.createHistogram('arrowquant.job.duration', { description: 'time of a whole job', unit: 's' }),
      fallbacks: m.createCounter('arrowquant.fallbacks', { description: 'fallback steps, by from_bits, to_bits, reason and method' }),
    };
  })();

  constructor(
    attributes: Record<string, string | number>,
    private readonly worker: string,
  ) {
    this.job = this.tracer.startSpan('arrowquant.job', { attributes });
    this.jobCtx = trace.setSpan(context.active(), this.job);
  }

  tensorStart(t: TensorPlan): void {
    const span = this.tracer.startSpan(
      'arrowquant.tensor',
      { attributes: { 'arrowquant.tensor': qualified(t), 'arrowquant.bytes': t.bytes, 'arrowquant.chunks': t.chunks.length, 'arrowquant.dtype': t.dtype } },
      this.jobCtx,
    );
    this.tensors.set(t.index, { span, ctx: trace.setSpan(this.jobCtx, span), t0: performance.now() });
  }

  /** Run one chunk's quantization inside its span. */
  async chunk<T>(t: TensorPlan, chunkIndex: number, choice: SchemeChoice, bytes: number, run: () => Promise<T>): Promise<T> {
    const parent = this.tensors.get(t.index)?.ctx ?? this.jobCtx;
    const span = this.tracer.startSpan(
      'arrowquant.chunk',
      {
        attributes: {
          'arrowquant.tensor': qualified(t),
          'arrowquant.chunk': chunkIndex,
          'arrowquant.method': choice.method,
          'arrowquant.scheme': choice.scheme,
          'arrowquant.bits': choice.bits,
          'arrowquant.bytes': bytes,
          'arrowquant.worker': this.worker,
        },
      },
      parent,
    );
    const t0 = performance.now();
    try {
      const out = await run();
      // A remote executor says which worker ran the chunk (or that it came from a checkpoint).
      const ranOn = (out as { worker?: unknown } | undefined)?.worker;
      if (typeof ranOn === 'string') span.setAttribute('arrowquant.worker', ranOn);
      return out;
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
      throw err;
    } finally {
      span.end();
      this.m.chunk.record((performance.now() - t0) / 1000, { scheme: choice.scheme });
    }
  }

  tensorEnd(t: TensorPlan, outcome: TensorOutcome, ladder: SchemeChoice[] | undefined): void {
    const entry = this.tensors.get(t.index);
    this.tensors.delete(t.index);
    const kept = outcome.method === 'keep';
    for (const f of outcome.fallbacks) {
      const from = ladder?.find((c) => c.scheme === f.fromScheme);
      this.m.fallbacks.add(1, { from_bits: f.fromBits, to_bits: f.toBits, reason: 'cosine_below_min_accuracy', method: from?.method ?? 'unknown' });
    }
    this.m.tensors.add(1, { method: outcome.method, bits: outcome.bits, outcome: kept ? 'kept' : 'quantized' });
    this.m.bytes.add(t.bytes, { method: outcome.method });
    if (!entry) return;
    this.m.tensor.record((performance.now() - entry.t0) / 1000, { method: outcome.method });
    entry.span.setAttributes({
      'arrowquant.method': outcome.method,
      'arrowquant.scheme': outcome.scheme,
      'arrowquant.bits': outcome.bits,
      'arrowquant.requested_bits': outcome.requestedBits,
      'arrowquant.cosine': outcome.quality.cosine,
      'arrowquant.stored_bytes': outcome.payloadBytes,
      'arrowquant.fallbacks': outcome.fallbacks.length,
    });
    for (const f of outcome.fallbacks) entry.span.addEvent('fallback', { from: f.fromScheme, to: f.toScheme, cosine: f.cosine, threshold: f.threshold });
    entry.span.end();
  }

  end(error?: unknown): void {
    for (const { span } of this.tensors.values()) span.end();
    this.tensors.clear();
    if (error !== undefined) {
      this.job.recordException(error as Error);
      this.job.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
    }
    this.job.end();
    this.m.job.record((performance.now() - this.started) / 1000, { outcome: error === undefined ? 'ok' : 'error' });
  }
}
