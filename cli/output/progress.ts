/** Job progress: a cli-progress bar (tensors, bytes, rate, ETA) on a terminal, JSON lines otherwise. */
import cliProgress from 'cli-progress';

import type { JobEvent } from '../../coordinator/run/job.js';
import { formatBytes, log, type OutputMode } from './terminal.js';

export class Progress {
  private bar?: cliProgress.SingleBar;
  private total = 0;
  private tensors = 0;
  private started = performance.now();
  private lastLine = 0;

  constructor(private readonly mode: OutputMode) {}

  onEvent = (e: JobEvent): void => {
    switch (e.type) {
      case 'modality':
        log(this.mode, 'modality', `modality: ${e.modality} (${e.reason})`, { modality: e.modality, reason: e.reason, detected: e.detected });
        break;
      case 'budget': {
        const b = e.report;
        const gb = (x: number) => `${(x / 1e9).toFixed(3)} GB`;
        const rows = Object.entries(b.allocation)
          .sort((x, y) => (x[0] === 'keep' ? 1 : y[0] === 'keep' ? -1 : Number(x[0]) - Number(y[0])))
          .map(([w, a]) => `${w === 'keep' ? 'kept' : `${w}-bit`}: ${a.tensors} tensors, ${gb(a.bytes)}`);
        log(this.mode, 'budget', `memory budget ${gb(b.targetBytes)}: planned ${gb(b.bytes)} (smallest possible ${gb(b.minimumBytes)}); ${rows.join('; ')}`, { ...b });
        break;
      }
      case 'calibration': {
        if (e.synthetic) {
          log(
            this.mode,
            'calibration_synthetic',
            `warning: gptq without --calibration: using synthetic statistics (${e.synthetic.cached ? 'cached' : 'generated'}: ${e.synthetic.path}). They fit made-up activations, so expect about RTN's quality; capture real ones with tools/capture_calibration.py (docs/CALIBRATION.md)`,
            { path: e.synthetic.path, cached: e.synthetic.cached },
            'warn',
          );
        }
        if (e.file !== undefined) log(this.mode, 'calibration', `calibration: ${e.file} (${e.layers} layers; ${e.used} tensors use it)`, { file: e.file, layers: e.layers, used: e.used });
        if (e.warnings.length > 0) {
          // One line for the lot (a model can have hundreds of layers); the names in full with --verbose / in JSON.
          const shown = e.warnings.slice(0, 3).map((w) => w.tensor).join(', ');
          const more = e.warnings.length > 3 ? ` and ${e.warnings.length - 3} more` : '';
          log(this.mode, 'calibration_warning', `warning: ${e.warnings.length} tensors have no calibration for their method (${shown}${more}): ${e.warnings[0]!.message}`, { warnings: e.warnings }, 'warn');
          for (const w of e.warnings) log(this.mode, 'calibration_missing', `  ${w.tensor}: ${w.message}`, {}, 'debug');
        }
        break;
      }
      case 'plan':
        this.total = e.sourceBytes;
        this.tensors = e.tensors;
        this.started = performance.now();
        log(
          this.mode,
          'plan',
          `plan: ${e.tensors} tensors (${e.quantize} quantized, ${e.keep} kept), ${formatBytes(e.sourceBytes)} in ${e.chunks} chunks, ${e.mode} mode\n  formats: ${Object.entries(e.formats ?? {}).map(([f, n]) => `${f} ${n}`).join(', ')}${Object.entries(e.auto ?? {}).map(([row, n]) => `\n  ${row} (${n} tensor${n === 1 ? '' : 's'})`).join('')}`,
          { ...e, type: undefined },
        );
        if (this.mode.tty && !this.mode.quiet) {
          this.bar = new cliProgress.SingleBar(
            {
              format: ' {bar} {percentage}% | {tensors}/{totalTensors} tensors | {done}/{size} | {rate} | ETA {eta_formatted}',
              hideCursor: true,
              barsize: 24,
              etaBuffer: 50,
              stream: process.stderr,
            },
            cliProgress.Presets.shades_classic,
          );
          this.bar.start(Math.max(1, e.sourceBytes), 0, { tensors: 0, totalTensors: e.tensors, done: formatBytes(0), size: formatBytes(e.sourceBytes), rate: '-' });
        }
        break;
      case 'tensor': {
        const secs = (performance.now() - this.started) / 1000;
        const rate = secs > 0 ? `${formatBytes(e.bytesDone / secs)}/s` : '-';
        if (this.bar) {
          this.bar.update(e.bytesDone, { tensors: e.done, done: formatBytes(e.bytesDone), rate });
        } else if (!this.mode.tty && !this.mode.quiet) {
          // At most a few lines a second (plus the last), so logs stay readable on big models.
          const now = performance.now();
          if (this.mode.verbose || now - this.lastLine > 250 || e.done === this.tensors) {
            this.lastLine = now;
            log(this.mode, 'progress', `${e.done}/${this.tensors} tensors`, {
              tensors: e.done,
              total_tensors: this.tensors,
              bytes: e.bytesDone,
              total_bytes: this.total,
              bytes_per_second: secs > 0 ? Math.round(e.bytesDone / secs) : null,
              tensor: e.outcome.plan.name,
              scheme: e.outcome.scheme,
              cosine: e.outcome.quality.cosine,
            });
          }
        }
        break;
      }
      case 'fallback':
        this.bar?.stop();
        log(this.mode, 'fallback', `fallback: ${e.tensor}: cosine ${e.cosine.toFixed(4)} < ${e.threshold} with ${e.from}, using ${e.to}`, { ...e, type: undefined });
        if (this.bar) this.bar.start(Math.max(1, this.total), 0);
        break;
    }
  };

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
