/**
 * Bulk bytes on the wire as Arrow IPC: each gRPC message carries one IPC stream (schema + one
 * record batch) of at most about PART_BYTES, so messages stay in the 1-4 MiB band and the
 * stream's flow control (write() false → wait for drain) works at a useful granularity.
 *
 * - Source chunk parts: `weights: FixedSizeBinary(cols × dtype bytes)`, one record per tensor
 *   row, whole rows per part (a row larger than a part goes alone). The coordinator writes them
 *   in native code, envelope included (crates/wire, `SourceChunk.dataMessages`/`layerMessages`);
 *   the worker decodes them here.
 * - Result parts: `codes, scales, zeros: Binary`, one record per part holding the next slice of
 *   each buffer; the receiver concatenates them in order.
 *
 * apache-arrow copies an IPC body that is not 8-byte aligned when reading; a part is at most a
 * few MiB, so the copy is cheap and we do not fight it.
 */
import { Binary, Field, FixedSizeBinary, RecordBatch, Schema, Struct, Table, makeData, tableFromIPC, tableToIPC } from 'apache-arrow';

import { PART_BYTES } from './proto.js';

function ipcOf(schema: Schema, length: number, children: ReturnType<typeof makeData>[]): Buffer {
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }));
  const bytes = tableToIPC(new Table(batch), 'stream');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One source part's bytes (a view into the decoded IPC body). */
export function decodeSourcePart(ipc: Buffer): Uint8Array {
  const table = tableFromIPC(ipc);
  const col = table.getChild('weights');
  if (!col || !(col.type instanceof FixedSizeBinary)) throw new Error('source part: no FixedSizeBinary "weights" column');
  const out: Uint8Array[] = [];
  for (const d of col.data) {
    const width = (d.type as FixedSizeBinary).byteWidth;
    out.push(d.values.subarray(d.offset * width, (d.offset + d.length) * width));
  }
  return out.length === 1 ? out[0]! : Buffer.concat(out);
}

const RESULT_SCHEMA = new Schema([new Field('codes', new Binary(), false), new Field('scales', new Binary(), false), new Field('zeros', new Binary(), false)]);

function binaryOne(bytes: Uint8Array) {
  return makeData({ type: new Binary(), length: 1, nullCount: 0, valueOffsets: Int32Array.of(0, bytes.length), data: bytes });
}

export interface ResultBytes {
  codes: Buffer;
  scales: Buffer;
  zeros: Buffer;
}

/** Cut a result into IPC parts of about `partBytes` (codes first, then scales, then zeros). */
export function encodeResultParts(r: ResultBytes, partBytes = PART_BYTES): Buffer[] {
  const total = r.codes.length + r.scales.length + r.zeros.length;
  const parts: Buffer[] = [];
  const take = (buf: Buffer, from: number, budget: number) => buf.subarray(Math.min(from, buf.length), Math.min(buf.length, from + budget));
  let at = 0; // position in codes ‖ scales ‖ zeros
  do {
    let budget = partBytes;
    const codes = take(r.codes, at, budget);
    budget -= codes.length;
    const scales = take(r.scales, Math.max(0, at - r.codes.length), budget);
    budget -= scales.length;
    const zeros = take(r.zeros, Math.max(0, at - r.codes.length - r.scales.length), budget);
    at += codes.length + scales.length + zeros.length;
    parts.push(ipcOf(RESULT_SCHEMA, 1, [binaryOne(codes), binaryOne(scales), binaryOne(zeros)]));
  } while (at < total);
  return parts;
}

/** Accumulates result parts in order. */
export class ResultAssembler {
  private codes: Uint8Array[] = [];
  private scales: Uint8Array[] = [];
  private zeros: Uint8Array[] = [];
  bytes = 0;

  add(ipc: Buffer): void {
    const table = tableFromIPC(ipc);
    for (const [name, into] of [['codes', this.codes], ['scales', this.scales], ['zeros', this.zeros]] as const) {
      const col = table.getChild(name);
      if (!col || !(col.type instanceof Binary)) throw new Error(`result part: no Binary "${name}" column`);
      for (const d of col.data) {
        const offs = d.valueOffsets;
        const v = d.values.subarray(offs[d.offset]!, offs[d.offset + d.length]!);
        into.push(v);
        this.bytes += v.length;
      }
    }
  }

  finish(): ResultBytes {
    // One part (the common case): views into the decoded message, no copy.
    const join = (xs: Uint8Array[]) => (xs.length === 1 ? Buffer.from(xs[0]!.buffer, xs[0]!.byteOffset, xs[0]!.byteLength) : Buffer.concat(xs));
    return { codes: join(this.codes), scales: join(this.scales), zeros: join(this.zeros) };
  }
}
