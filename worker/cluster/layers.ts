/**
 * Calibrated layers on a worker: built once from the Layer message (the Hessian read from the
 * calibration file by reference, or received as LayerParts) and shared by the layer's chunks,
 * like the in-process run's. A few are kept; the least recently used one is released when no
 * chunk holds a claim on it.
 *
 * A chunk claims its layer when its assignment arrives, so a layer its queued chunks still need
 * is never released under them. The coordinator sends a by-value Hessian to a worker once; a
 * chunk whose layer is not here (its build failed, or it was released before this assignment
 * arrived) fails at once with `LayerMissingError`, and the coordinator sends the layer again
 * with the retry instead of the worker waiting for parts that will not come.
 */
import { Hessian, LayerCalibration, SourceChunk, SourceFile } from '../../common/native.js';
import { decodeSourcePart } from '../../common/cluster/arrow-codec.js';
import { channelScalesOf, importanceOf, type LayerMsg } from '../../common/chunk/wire.js';
import { underRealRoot } from '../../common/cluster/shared-root.js';

const KEEP = 3;

export class LayerMissingError extends Error {
  override name = 'LayerMissingError';
  constructor(readonly key: string, why?: string, options?: { cause?: unknown }) {
    super(`layer ${key}: its Hessian is not on this worker${why ? ` (${why})` : ''}`, options);
  }
}

/** A chunk's hold on its layer, from assignment to the end of its run. */
export interface LayerClaim {
  /** Moves to a resent copy of the layer when the claimed one was replaced before it was built. */
  entry: Entry;
}

interface Entry {
  key: string;
  parts: Uint8Array[];
  received: number;
  partsDone?: () => void;
  partsFailed?: (e: Error) => void;
  partsReady: Promise<void>;
  built?: Promise<LayerCalibration>;
  /** Claims held by assigned chunks not yet finished. */
  users: number;
  lastUse: number;
}

export class WorkerLayers {
  private readonly entries = new Map<string, Entry>();

  private create(key: string): Entry {
    const old = this.entries.get(key);
    if (old) this.retire(old, 'replaced by a resent copy');
    const fresh: Entry = { key, parts: [], received: 0, users: 0, lastUse: Date.now(), partsReady: Promise.resolve() };
    fresh.partsReady = new Promise<void>((resolve, reject) => {
      fresh.partsDone = resolve;
      fresh.partsFailed = reject;
    });
    fresh.partsReady.catch(() => {});
    this.entries.set(key, fresh);
    return fresh;
  }

  addPart(key: string, seq: number, ipc: Buffer, last: boolean): void {
    // Parts always open a new copy of the layer: the coordinator resends only what is missing.
    const e = seq === 0 ? this.create(key) : this.entries.get(key);
    if (!e) return;
    if (seq !== e.parts.length) return e.partsFailed?.(new Error(`layer ${key}: part ${seq} arrived out of order`));
    const bytes = decodeSourcePart(ipc);
    e.parts.push(bytes);
    e.received += bytes.length;
    if (last) e.partsDone?.();
  }

  /** Called when a chunk of the layer is assigned; throws `LayerMissingError` when it cannot be built here. */
  claim(msg: LayerMsg): LayerClaim {
    let e = this.entries.get(msg.key);
    if (!e) {
      if (msg.hasHessian && !msg.hessianRef) throw new LayerMissingError(msg.key);
      e = this.create(msg.key);
    }
    e.users++;
    e.lastUse = Date.now();
    return { entry: e };
  }

  /** The native layer, built on first use by the chunks that claimed it. */
  async acquire(claim: LayerClaim, msg: LayerMsg, sharedRoot: string): Promise<LayerCalibration> {
    let e = claim.entry;
    const current = this.entries.get(e.key);
    // A copy replaced since the claim is still good once built (claims keep it alive); one not
    // yet built gives way to the copy that replaced it.
    if (current !== e && !e.built) {
      if (!current) throw new LayerMissingError(e.key);
      e.users = Math.max(0, e.users - 1);
      current.users++;
      claim.entry = e = current;
    }
    e.lastUse = Date.now();
    e.built ??= this.build(msg, e, sharedRoot);
    try {
      return await e.built;
    } catch (err) {
      if (this.entries.get(e.key) === e) this.entries.delete(e.key);
      // A by-value copy is gone with its failure: every chunk that claimed it needs a resend.
      if (msg.hasHessian && !msg.hessianRef && !(err instanceof LayerMissingError)) throw new LayerMissingError(e.key, `its build failed: ${(err as Error).message}`, { cause: err });
      throw err;
    }
  }

  /** The chunk is finished (or was never run): drop its claim. */
  release(claim: LayerClaim): void {
    const e = claim.entry;
    e.users = Math.max(0, e.users - 1);
    if (e.users === 0 && this.entries.get(e.key) !== e) void e.built?.then((l) => l.release(), () => {});
    // Parts nobody will build (their chunks were cancelled or handed back): do not hold a
    // Hessian for them; a later chunk of the layer gets it resent.
    if (e.users === 0 && !e.built && this.entries.get(e.key) === e) this.retire(e, 'no chunk needs it');
    this.evict();
  }

  /** Out of the map; waiting builds fail (nothing more will arrive for this copy). */
  private retire(e: Entry, why: string): void {
    if (this.entries.get(e.key) === e) this.entries.delete(e.key);
    e.partsFailed?.(new LayerMissingError(e.key, why));
    if (e.users === 0) void e.built?.then((l) => l.release(), () => {});
  }

  private async build(msg: LayerMsg, e: Entry, sharedRoot: string): Promise<LayerCalibration> {
    let hessian: Hessian | null = null;
    if (msg.hasHessian) {
      if (msg.hessianRef) {
        const path = await underRealRoot(msg.hessianRef.path, sharedRoot);
        if (!path) throw new Error(`layer ${msg.key}: ${msg.hessianRef.path} is not under this worker's shared root`);
        if (msg.hessianRef.length !== 4 * msg.cols * msg.cols) throw new Error(`layer ${msg.key}: a ${msg.hessianRef.length}-byte Hessian for ${msg.cols} inputs`);
        // Read a block at a time by the kernels, from the page cache: never resident whole.
        hessian = Hessian.inFile(SourceFile.open(path), msg.hessianRef.offset, msg.cols);
      } else {
        await e.partsReady;
        if (e.received !== msg.hessianBytes) throw new Error(`layer ${msg.key}: ${e.received} Hessian bytes arrived, ${msg.hessianBytes} announced`);
        const chunk = SourceChunk.fromBytes(Buffer.concat(e.parts));
        e.parts = [];
        try {
          hessian = Hessian.held(chunk, msg.cols);
        } finally {
          chunk.release(); // the Hessian keeps its own reference to the bytes
        }
      }
    }
    try {
      const gptq = msg.measureOnly ? null : { damp: msg.damp, actOrder: msg.actOrder };
      return LayerCalibration.create(msg.cols, hessian, channelScalesOf(msg), gptq, importanceOf(msg), msg.measureRows > 0 ? msg.measureRows : null);
    } finally {
      hessian?.release(); // the layer keeps its own reference; a held copy is not left to GC
    }
  }

  private evict(): void {
    const idle = [...this.entries.values()].filter((e) => e.users === 0 && e.built).sort((a, b) => a.lastUse - b.lastUse);
    while (this.entries.size > KEEP && idle.length > 0) {
      const e = idle.shift()!;
      this.entries.delete(e.key);
      void e.built!.then((l) => l.release(), () => {});
    }
  }

  clear(): void {
    for (const e of [...this.entries.values()]) this.retire(e, 'the stream ended');
  }
}
