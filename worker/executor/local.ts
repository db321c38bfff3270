/** In-process executor: the native kernels on this machine's cores. */
import { quantize } from '../../common/native.js';
import { ChunkError } from './errors.js';
import type { ChunkJob, ChunkOutput, Executor } from './executor.js';

export class LocalExecutor implements Executor {
  readonly description: string;
  constructor(private readonly threads: number) {
    this.description = `in-process (${threads === 0 ? 'all' : threads} threads)`;
  }

  async run(job: ChunkJob): Promise<ChunkOutput> {
    try {
      const r = await quantize(job.data, job.dtype, job.rows, job.cols, job.format, { threads: this.threads });
      return {
        codes: r.codes,
        // The file stores scales as little-endian f32 bytes; every supported target is little-endian.
        scales: Buffer.from(r.scales.buffer, r.scales.byteOffset, r.scales.byteLength),
        zeros: r.zeros,
        quality: r.quality,
      };
    } catch (cause) {
      throw new ChunkError(job.tensorName, job.chunkIndex, cause, job.rowStart);
    }
  }

  async close(): Promise<void> {}
}
