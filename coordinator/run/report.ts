/**
 * The JSON report: everything the Parquet file deliberately leaves out (paths, host, times,
 * execution settings) beside what it holds, per tensor. Written atomically like the output.
 */
import { open, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

import type { ConfigSources, ResolvedConfig } from '../../common/config/index.js';
import type { JobResult } from './job.js';

export function buildReport(r: JobResult, config: ResolvedConfig, sources: ConfigSources, startedAt: Date) {
  const num = (x: number) => (Number.isFinite(x) ? x : String(x));
  return {
    arrowquant_report: 1,
    input: r.layout.root,
    input_kind: r.layout.kind,
    output: r.outputPath,
    host: hostname(),
    started_at: startedAt.toISOString(),
    seconds: r.seconds,
    mode: r.mode,
    config,
    config_sources: sources,
    modality: { value: r.modality, reason: r.modalityReason },
    sources: r.sources,
    summary: r.summary,
    tensors: r.tensors.map((o) => ({
      index: o.plan.index,
      name: o.plan.name,
      component: o.plan.component ?? null,
      shape: o.plan.shape,
      dtype: o.plan.dtype,
      action: o.method === 'keep' ? 'keep' : 'quantize',
      rule: o.plan.action.rule,
      reason: o.plan.action.reason,
      method: o.method,
      scheme: o.scheme,
      bits: o.bits,
      requested_bits: o.requestedBits,
      chunks: o.plan.chunks.length,
      source_bytes: o.plan.bytes,
      payload_bytes: o.payloadBytes,
      cosine: o.quality.cosine,
      sqnr_db: num(o.quality.sqnrDb),
      rel_mse: num(o.quality.relMse),
      max_abs_err: o.quality.maxAbsErr,
      // cos(XWᵀ, XŴᵀ) on the calibration inputs, from the layer's Hessian (null: not measured).
      layer_output_cosine: o.layerOutput?.cosine ?? null,
      layer_output_rel_mse: o.layerOutput ? (o.layerOutput.sumWw > 0 ? o.layerOutput.sumEe / o.layerOutput.sumWw : 0) : null,
      accuracy_basis: o.accuracyBasis ?? (o.method === 'keep' ? null : 'weight'),
      fallbacks: o.fallbacks,
      seconds: o.seconds ?? null,
    })),
  };
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeTextAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Write `text` beside `path`, fsync, rename: the file appears complete or not at all. */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
  try {
    const fh = await open(temp, 'w');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
