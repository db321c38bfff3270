/**
 * `arrowquant verify <file> <model>`: recompute every tensor's quality against the source
 * weights and compare it with what the file records; check the source files' hashes too.
 * Exit 1 on any mismatch.
 */
import { Command } from 'commander';

import { ValidationError } from '../../common/errors.js';
import { openQuantized } from '../../common/format/reader.js';
import { view2d } from '../../common/format/view.js';
import { compareQuality } from '../../common/native.js';
import { discoverModel } from '../../coordinator/model/discover.js';
import { DTYPE_BYTES, isQuantizable, type QuantizableDtype } from '../../common/format/dtypes.js';
import { mergeQuality } from '../../common/format/quality.js';
import { readHeader, type TensorEntry } from '../../coordinator/model/safetensors.js';
import { SourceFiles } from '../../coordinator/run/source-files.js';
import { table } from '../output/summary.js';
import { log, outputMode } from '../output/terminal.js';
import { globalOptions } from './global.js';

export class VerificationError extends ValidationError {
  override name = 'VerificationError';
  constructor(readonly problems: string[]) {
    super(`${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  }
}

/** Recorded and recomputed cosines agree to this much (f32 group sums vs f64 sums). */
const COSINE_TOLERANCE = 1e-5;

export function verifyCommand(): Command {
  return new Command('verify')
    .summary("recompute every tensor's quality against the source model")
    .argument('<file>', 'an ArrowQuant .parquet file')
    .argument('<model>', 'the model it was made from')
    .action(async (file: string, model: string, _flags: unknown, cmd: Command) => {
      const mode = outputMode(globalOptions(cmd));
      const f = await openQuantized(file);
      const layout = await discoverModel(model);
      const entries: { path: string; rel: string; component?: string; header: Awaited<ReturnType<typeof readHeader>> }[] = [];
      for (const mf of layout.files) entries.push({ ...mf, header: await readHeader(mf.path) });
      const byKey = new Map<string, { path: string; entry: TensorEntry }>();
      for (const e of entries) for (const t of e.header.tensors) byKey.set(`${e.component ?? ''}\u0000${t.name}`, { path: e.path, entry: t });

      const problems: string[] = [];
      const files = await SourceFiles.open(entries);
      const t = table(mode, ['tensor', 'scheme', 'recorded cosine', 'recomputed', 'status']);
      try {
        // Hash every file front to back (the same BLAKE3 the job recorded).
        for (const e of entries) {
          const step = 64 << 20;
          for (let off = e.header.dataStart; off < e.header.fileBytes; off += step) {
            (await files.read(e.path, off, Math.min(step, e.header.fileBytes - off), true)).release();
          }
        }
        const recorded = JSON.parse(f.metadata['arrowquant.sources'] ?? '[]') as { file: string; blake3: string }[];
        const actual = files.hashes();
        for (const r of recorded) {
          const a = actual.find((x) => x.file === r.file);
          if (!a) problems.push(`source file ${r.file} is not part of ${model}`);
          else if (a.blake3 !== r.blake3) problems.push(`source file ${r.file} differs from the one quantized (BLAKE3 ${a.blake3} ≠ ${r.blake3})`);
        }

        for (const info of f.tensors) {
          const src = byKey.get(`${info.component ?? ''}\u0000${info.name}`);
          const label = info.component ? `${info.component}/${info.name}` : info.name;
          if (!src) {
            problems.push(`${label}: not found in the model`);
            continue;
          }
          if (src.entry.dtype !== info.sourceDtype || src.entry.shape.join(',') !== info.shape.join(',')) {
            problems.push(`${label}: model has ${src.entry.dtype} [${src.entry.shape}], file recorded ${info.sourceDtype} [${info.shape}]`);
            continue;
          }
          // Chunk by chunk, so memory stays bounded by a chunk however large the tensor.
          const { cols } = view2d(info.shape);
          const rowBytes = cols * DTYPE_BYTES[info.sourceDtype]!;
          const exact = info.scheme === `keep_${info.sourceDtype}`;
          if (!exact && !isQuantizable(info.sourceDtype)) {
            problems.push(`${label}: ${info.sourceDtype} tensor stored as ${info.scheme}`);
            continue;
          }
          const sums = [];
          let same = true;
          for (let k = 0; k < info.chunks; k++) {
            const stored = await f.chunk(info, k);
            const source = await files.read(src.path, src.entry.begin + stored.rowStart * rowBytes, stored.rowCount * rowBytes, false);
            const bytes = source.bytes();
            source.release();
            if (exact) same &&= stored.raw.codes.equals(bytes);
            else sums.push(await compareQuality(bytes, info.sourceDtype as QuantizableDtype, cols, stored.values as Float32Array, { threads: 0 }));
          }
          const cosine = exact ? (same ? 1 : 0) : mergeQuality(sums).cosine;
          if (exact && !same) problems.push(`${label}: kept bytes differ from the source`);
          if (!exact && Math.abs(cosine - info.quality.cosine) > COSINE_TOLERANCE) {
            problems.push(`${label}: recomputed cosine ${cosine.toFixed(6)} ≠ recorded ${info.quality.cosine.toFixed(6)}`);
          }
          const ok = Math.abs(cosine - info.quality.cosine) <= COSINE_TOLERANCE;
          t.push([label, info.scheme, info.quality.cosine.toFixed(6), cosine.toFixed(6), ok ? 'ok' : 'MISMATCH']);
          log(mode, 'verified', `${label}: ${ok ? 'ok' : 'MISMATCH'}`, { tensor: label, recorded: info.quality.cosine, recomputed: cosine, ok }, 'debug');
        }
      } finally {
        await files.close();
      }
      if (!mode.quiet && mode.tty) process.stdout.write(`${t.toString()}\n`);
      if (problems.length) throw new VerificationError(problems);
      log(mode, 'verify', `verified ${f.tensors.length} tensors and ${entries.length} source file(s): all match`, { tensors: f.tensors.length, files: entries.length });
    });
}
