/** In-process executor: the native kernels on this machine's cores; bytes never cross into JS. */
import { quantizeChunk, quantizeLayerChunk } from '../../common/native.js';
import { ChunkError } from '../../common/chunk/errors.js';
import type { ChunkJob, ChunkOutput, Executor } from '../../common/chunk/job.js';

export class LocalExecutor implements Executor {
  readonly description: string;
  constructor(private readonly threads: number) {
    this.description = `in-process (${threads === 0 ? 'all' : threads} threads)`;
  }

  async run(job: ChunkJob): Promise<ChunkOutput> {
    try {
      const options = { threads: this.threads };
      const format = { name: job.scheme };
      const chunk = job.layer
        ? await quantizeLayerChunk(job.data, job.dtype, job.rows, job.cols, format, job.layer, options)
        : await quantizeChunk(job.data, job.dtype, job.rows, job.cols, format, options);
      const layerOutput = chunk.layerOutput ?? undefined;
      return { quality: chunk.quality, ...(layerOutput ? { layerOutput } : {}), payload: { kind: 'native', chunk } };
    } catch (cause) {
      throw new ChunkError(job.tensorName, job.chunkIndex, cause, job.rowStart);
    }
  }

  async close(): Promise<void> {}
}
