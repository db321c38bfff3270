/** `arrowquant inspect <file>`: tensors, methods, bits, sizes, compression ratio, quality, fallbacks. */
import { Command } from 'commander';

import { openQuantized, type QuantizedFile } from '../../common/format/reader.js';
import { table } from '../output/summary.js';
import { formatBytes, outputMode } from '../output/terminal.js';
import { globalOptions } from './global.js';

export function fileTotals(f: QuantizedFile) {
  const sources = JSON.parse(f.metadata['arrowquant.sources'] ?? '[]') as { bytes: number }[];
  const sourceBytes = sources.reduce((s, x) => s + x.bytes, 0);
  const q = f.tensors.filter((t) => t.method !== 'keep');
  const cos = q.map((t) => t.quality.cosine);
  const out = q.flatMap((t) => (t.layerOutput ? [t.layerOutput.cosine] : []));
  return {
    tensors: f.tensors.length,
    quantized: q.length,
    kept: f.tensors.length - q.length,
    sourceBytes,
    fileBytes: f.fileBytes,
    compressionRatio: f.fileBytes > 0 ? sourceBytes / f.fileBytes : 0,
    minCosine: cos.length ? Math.min(...cos) : 1,
    meanCosine: cos.length ? cos.reduce((a, b) => a + b, 0) / cos.length : 1,
    measured: out.length,
    minOutputCosine: out.length ? Math.min(...out) : 1,
    fallbacks: f.tensors.reduce((s, t) => s + t.fallbacks.length, 0),
  };
}

export function inspectCommand(): Command {
  return new Command('inspect')
    .summary('list the tensors of an ArrowQuant file with their methods, sizes and quality')
    .argument('<file>', 'an ArrowQuant .parquet file')
    .option('--json', 'print JSON instead of tables')
    .action(async (file: string, flags: { json?: boolean }, cmd: Command) => {
      const mode = outputMode(globalOptions(cmd));
      const f = await openQuantized(file);
      const totals = fileTotals(f);
      if (flags.json) {
        const finite = (x: number) => (Number.isFinite(x) ? x : String(x));
        const tensors = f.tensors.map((t) => ({ ...t, quality: { ...t.quality, sqnrDb: finite(t.quality.sqnrDb) } }));
        process.stdout.write(`${JSON.stringify({ file, metadata: f.metadata, totals, tensors }, null, 2)}\n`);
        return;
      }
      const t = table(mode, ['#', 'tensor', 'shape', 'dtype', 'method', 'scheme', 'bits', 'stored', 'cosine', 'SQNR dB', 'output cos', 'fallbacks']);
      for (const x of f.tensors) {
        t.push([
          x.index,
          x.component ? `${x.component}/${x.name}` : x.name,
          x.shape.join('×'),
          x.sourceDtype,
          x.method,
          x.scheme,
          x.bits,
          formatBytes(x.storedBytes),
          x.quality.cosine.toFixed(5),
          Number.isFinite(x.quality.sqnrDb) ? x.quality.sqnrDb.toFixed(1) : 'exact',
          x.layerOutput ? x.layerOutput.cosine.toFixed(5) : '',
          x.fallbacks.map((s) => `${s.fromScheme}→${s.toScheme}`).join(', '),
        ]);
      }
      process.stdout.write(`${t.toString()}\n`);
      const s = table(mode);
      s.push(
        { file },
        { 'format version': f.metadata['arrowquant.format_version'] ?? '?' },
        { modality: f.metadata['arrowquant.modality'] ?? '?' },
        { tensors: `${totals.tensors} (${totals.quantized} quantized, ${totals.kept} kept)` },
        { 'model size': `${formatBytes(totals.sourceBytes)} → ${formatBytes(totals.fileBytes)}` },
        { 'compression ratio': `${totals.compressionRatio.toFixed(2)}×` },
        { 'cosine (min / mean)': `${totals.minCosine.toFixed(4)} / ${totals.meanCosine.toFixed(4)}` },
        ...(totals.measured > 0 ? [{ 'layer-output cosine (min)': `${totals.minOutputCosine.toFixed(4)} over ${totals.measured} measured tensors` }] : []),
        { fallbacks: String(totals.fallbacks) },
      );
      process.stdout.write(`${s.toString()}\n`);
    });
}
