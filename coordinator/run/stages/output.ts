/**
 * The output file: a temporary file beside the output path that rows stream into, renamed over
 * the output path only when the footer is written (`finish`). Until then any error, abort or
 * process exit deletes it, and a file already at the output path is left as it was.
 */
import { resolve } from 'node:path';

import { CONFIG_KEYS, type ResolvedConfig } from '../../../common/config/index.js';
import { fromNative } from '../../../common/errors.js';
import { ParquetSink, type WriteSummaryJs } from '../../../common/native.js';
import { pushRow, type PendingRow } from '../tensor.js';

/** Keys that change how the job runs but not what it writes; kept out of the file. */
const EXECUTION_KEYS = new Set(['num_threads', 'enable_streaming']);

/** The configuration as the file records it (and as the cluster's job id hashes it). */
export function fileConfig(config: ResolvedConfig): string {
  const picked: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) if (!EXECUTION_KEYS.has(k)) picked[k] = config[k];
  return JSON.stringify(picked);
}

export class OutputFile {
  private readonly removeTemp = () => this.sink.abort();

  private constructor(private readonly sink: ParquetSink) {
    // A process exit while the job runs (a second Ctrl-C, an uncaught error) still removes the
    // temporary file: abort() is synchronous.
    process.once('exit', this.removeTemp);
  }

  /** Creates the temporary file; `metadata` opens the footer (more is added by `finish`). */
  static create(outputPath: string, metadata: Record<string, string>): OutputFile {
    try {
      return new OutputFile(ParquetSink.create(resolve(outputPath), metadata));
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Append a row; rows come in model order. */
  push(row: PendingRow): Promise<void> {
    return pushRow(this.sink, row);
  }

  /** Write the footer with `metadata` added, fsync, and rename into place. */
  finish(metadata: Record<string, string>): Promise<WriteSummaryJs> {
    return this.sink.finish(metadata);
  }

  /** Delete the temporary file (idempotent; nothing after a successful `finish`). */
  abort(): void {
    this.sink.abort();
  }

  /** Done with the file, whatever happened: abort what is not finished, drop the exit hook. */
  close(): void {
    this.sink.abort();
    process.off('exit', this.removeTemp);
  }
}
