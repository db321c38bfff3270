/** The end-of-job summary table (cli-table3). */
import Table from 'cli-table3';

import type { JobResult } from '../../coordinator/run/job.js';
import { formatBytes, type OutputMode } from './terminal.js';

export function table(mode: OutputMode, head?: string[]): Table.Table {
  // No colors unless on a color terminal (NO_COLOR is honoured by outputMode).
  return new Table({
    ...(head ? { head } : {}),
    // No separator between rows: long tensor lists stay readable.
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    style: mode.color ? {} : { head: [], border: [] },
  });
}

export function summaryTable(mode: OutputMode, r: JobResult): string {
  const s = r.summary;
  const t = table(mode);
  t.push(
    { output: r.outputPath },
    { modality: r.modality },
    { tensors: `${s.tensors} (${s.quantized} quantized, ${s.kept} kept)` },
    { 'model size': `${formatBytes(s.sourceBytes)} → ${formatBytes(s.fileBytes)}` },
    { 'compression ratio': `${s.compressionRatio.toFixed(2)}×` },
    { 'cosine (min / mean)': `${s.minCosine.toFixed(4)} / ${s.meanCosine.toFixed(4)}` },
    ...(s.measured > 0 ? [{ 'layer-output cosine (min)': `${s.minOutputCosine.toFixed(4)} over ${s.measured} measured tensors` }] : []),
    { fallbacks: String(s.fallbacks) },
    { time: `${r.seconds.toFixed(2)} s (${r.mode})` },
  );
  return t.toString();
}
