/**
 * Calibrated layers on a worker: built once from the Layer message (the Hessian read from the
 * calibration file by reference, or received as LayerParts) and shared by the layer's chunks,
 * like the in-process run's. A few are kept; the least recently used one is released when no
 * chunk is using it.
 */
import { LayerCalibration, SourceChunk, SourceFile } from '../../common/native.js';
import { decodeSourcePart } from '../../common/cluster/arrow-codec.js';
import type { LayerMsg } from '../../common/cluster/proto.js';

const KEEP = 3;

interface Entry {
  parts: Uint8Array[];
  received: number;
  partsDone?: () => void;
  partsFailed?: (e: Error) => void;
  partsReady: Promise<void>;
  built?: Promise<LayerCalibration>;
  users: number;
  lastUse: number;
}

export class WorkerLayers {
  private readonly entries = new Map<string, Entry>();

  private entry(key: string): Entry {
    let e = this.entries.get(key);
    if (!e) {
      const fresh: Entry = { parts: [], received: 0, users: 0, lastUse: Date.now(), partsReady: Promise.resolve() };
      fresh.partsReady = new Promise<void>((resolve, reject) => {
        fresh.partsDone = resolve;
        fresh.partsFailed = reject;
      });
      fresh.partsReady.catch(() => {});
      this.entries.set(key, (e = fresh));
    }
    return e;
  }

  addPart(key: string, seq: number, ipc: Buffer, last: boolean): void {
    const e = this.entry(key);
    if (seq !== e.parts.length) return e.partsFailed?.(new Error(`layer ${key}: part ${seq} arrived out of order`));
    const bytes = decodeSourcePart(ipc);
    e.parts.push(bytes);
    e.received += bytes.length;
    if (last) e.partsDone?.();
  }

  /** The native layer for `msg`, built on first use; call `done(key)` when the chunk is finished. */
  async acquire(msg: LayerMsg, sharedRoot: string): Promise<LayerCalibration> {
    const e = this.entry(msg.key);
    e.users++;
    e.lastUse = Date.now();
    e.built ??= this.build(msg, e, sharedRoot);
    try {
      return await e.built;
    } catch (err) {
      e.users--;
      this.entries.delete(msg.key);
      throw err;
    }
  }

  done(key: string): void {
    const e = this.entries.get(key);
    if (e) e.users--;
    this.evict();
  }

  private async build(msg: LayerMsg, e: Entry, sharedRoot: string): Promise<LayerCalibration> {
    let hessian: SourceChunk | null = null;
    if (msg.hasHessian) {
      if (msg.hessianRef) {
        const root = sharedRoot.endsWith('/') ? sharedRoot : `${sharedRoot}/`;
        if (!sharedRoot || !msg.hessianRef.path.startsWith(root)) throw new Error(`layer ${msg.key}: ${msg.hessianRef.path} is not under this worker's --shared-root`);
        hessian = await SourceFile.open(msg.hessianRef.path).read(msg.hessianRef.offset, msg.hessianRef.length, false);
      } else {
        await e.partsReady;
        if (e.received !== msg.hessianBytes) throw new Error(`layer ${msg.key}: ${e.received} Hessian bytes arrived, ${msg.hessianBytes} announced`);
        hessian = SourceChunk.fromBytes(Buffer.concat(e.parts));
        e.parts = [];
      }
    }
    const scales = msg.channelScales.length > 0 ? new Float32Array(msg.channelScales.buffer.slice(msg.channelScales.byteOffset, msg.channelScales.byteOffset + msg.channelScales.byteLength)) : null;
    try {
      return LayerCalibration.create(msg.cols, hessian, scales, { damp: msg.damp, actOrder: msg.actOrder });
    } finally {
      hessian?.release();
    }
  }

  private evict(): void {
    const idle = [...this.entries.entries()].filter(([, e]) => e.users === 0 && e.built).sort((a, b) => a[1].lastUse - b[1].lastUse);
    while (this.entries.size > KEEP && idle.length > 0) {
      const [key, e] = idle.shift()!;
      this.entries.delete(key);
      void e.built!.then((l) => l.release(), () => {});
    }
  }

  clear(): void {
    for (const e of this.entries.values()) void e.built?.then((l) => l.release(), () => {});
    this.entries.clear();
  }
}
