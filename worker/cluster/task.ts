/**
 * One assignment on the worker: its source bytes (arriving by value as Arrow IPC parts, or read
 * from shared storage by reference), the kernels on this machine (the in-process executor, so
 * the bytes are exactly the local run's), and the result as bytes with their checksum.
 */
import { SourceChunk, SourceFile, type LayerOutputFigures, type QualityFigures } from '../../common/native.js';
import { decodeSourcePart, type ResultBytes } from '../../common/cluster/arrow-codec.js';
import type { Executor } from '../../common/chunk/job.js';
import { chunkJobOf, type Assignment } from '../../common/chunk/wire.js';
import { NonFiniteError } from '../../common/errors.js';
import type { LayerClaim, WorkerLayers } from './layers.js';
import { underRealRoot } from '../../common/cluster/shared-root.js';

export class WorkerTask {
  private parts: Uint8Array[] = [];
  private received = 0;
  private complete!: () => void;
  private fail!: (e: unknown) => void;
  /** Resolves when every by-value part is in (at once for a by-reference chunk). */
  readonly ready = new Promise<void>((resolve, reject) => {
    this.complete = resolve;
    this.fail = reject;
  });
  cancelled = false;
  /** The calibrated layer this chunk holds from assignment until it is finished or dropped. */
  private claim?: LayerClaim;

  /** Throws `LayerMissingError` when the chunk's layer cannot be built on this worker. */
  constructor(readonly a: Assignment, private readonly layers: WorkerLayers) {
    if ('byReference' in a) this.complete();
    this.ready.catch(() => {});
    if (a.layer) this.claim = layers.claim(a.layer);
  }

  /** Let go of the layer (idempotent): after the run, or when the chunk is cancelled or handed back. */
  releaseLayer(): void {
    if (this.claim) this.layers.release(this.claim);
    this.claim = undefined;
  }

  addPart(seq: number, ipc: Buffer, last: boolean): void {
    if (seq !== this.parts.length) return this.fail(new Error(`task ${this.a.taskId}: data part ${seq} arrived out of order`));
    const bytes = decodeSourcePart(ipc);
    this.parts.push(bytes);
    this.received += bytes.length;
    if (last) {
      const announced = 'byValue' in this.a ? this.a.byValue.bytes : 0;
      if (this.received !== announced) return this.fail(new Error(`task ${this.a.taskId}: ${this.received} bytes arrived, ${announced} announced`));
      this.complete();
    }
  }

  abort(reason: Error): void {
    this.fail(reason);
  }

  private async source(sharedRoot: string): Promise<SourceChunk> {
    if ('byReference' in this.a) {
      const ref = this.a.byReference;
      const path = await underRealRoot(ref.path, sharedRoot);
      if (!path) throw new Error(`task ${this.a.taskId}: ${ref.path} is not under this worker's shared root`);
      const f = SourceFile.open(path);
      return f.read(ref.offset, ref.length, false);
    }
    const bytes = this.parts.length === 1 ? Buffer.from(this.parts[0]!.buffer, this.parts[0]!.byteOffset, this.parts[0]!.byteLength) : Buffer.concat(this.parts);
    this.parts = [];
    return SourceChunk.fromBytes(bytes);
  }

  /** Quantize; the result leaves native memory here (it is about to be sent). */
  async run(executor: Executor, sharedRoot: string): Promise<{ bytes: ResultBytes; quality: QualityFigures; layerOutput?: LayerOutputFigures }> {
    const a = this.a;
    const layer = a.layer && this.claim ? await this.layers.acquire(this.claim, a.layer, sharedRoot) : undefined;
    let data: SourceChunk | undefined;
    try {
      data = await this.source(sharedRoot);
      const out = await executor.run(chunkJobOf(a, data, layer));
      const measured = out.layerOutput ? { layerOutput: out.layerOutput } : {};
      if (out.payload.kind === 'native') {
        const c = out.payload.chunk;
        const bytes = { codes: c.codes(), scales: c.scales(), zeros: c.zeros() };
        c.release();
        return { bytes, quality: out.quality, ...measured };
      }
      return { bytes: { codes: out.payload.codes, scales: out.payload.scales, zeros: out.payload.zeros }, quality: out.quality, ...measured };
    } finally {
      data?.release();
      this.releaseLayer();
    }
  }
}

/** A bad input (a NaN in the weights) fails the same way on every worker: do not retry it. */
export function isRetryable(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof NonFiniteError) return false;
  return true;
}
