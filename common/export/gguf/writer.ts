/**
 * The GGUF v3 container, written as llama.cpp's gguf library and gguf-py write it:
 *
 *   magic "GGUF", u32 version 3, u64 tensor count, u64 key/value count;
 *   key/value pairs in the order given (key: u64 length + UTF-8; u32 value type; value; an array
 *   is u32 element type, u64 count, elements);
 *   per tensor: name, u32 n_dims, u64 dims innermost first (ggml's ne[0] is numpy's last axis),
 *   u32 ggml type, u64 offset into the data section;
 *   zero padding to the alignment (32, GGUF's default; written as `general.alignment` only if the
 *   caller adds that key), then each tensor's bytes padded to the alignment.
 *
 * The data come from each tensor's `data()` when the header is written, one tensor at a time, into
 * an atomic file (nothing is left at the output path on error).
 */
import { AtomicFile } from '../atomic-file.js';
import { ExportError } from '../errors.js';
import type { GgufType } from './types.js';

export const GGUF_ALIGNMENT = 32;

/** GGUF metadata value types (gguf.h's `gguf_type`). */
export const GGUF_VALUE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE, 'ARRAY'>;

/** One metadata entry: a scalar, or an array of one scalar type. */
export type GgufValue =
  | { type: GgufScalarType; value: number | bigint | boolean | string }
  | { type: 'ARRAY'; of: GgufScalarType; values: readonly (number | bigint | boolean | string)[] };

export interface GgufKv {
  key: string;
  value: GgufValue;
}

/** Shorthands for the common entries. */
export const kv = {
  str: (key: string, value: string): GgufKv => ({ key, value: { type: 'STRING', value } }),
  u32: (key: string, value: number): GgufKv => ({ key, value: { type: 'UINT32', value } }),
  i32: (key: string, value: number): GgufKv => ({ key, value: { type: 'INT32', value } }),
  f32: (key: string, value: number): GgufKv => ({ key, value: { type: 'FLOAT32', value } }),
  bool: (key: string, value: boolean): GgufKv => ({ key, value: { type: 'BOOL', value } }),
  strs: (key: string, values: readonly string[]): GgufKv => ({ key, value: { type: 'ARRAY', of: 'STRING', values } }),
  i32s: (key: string, values: readonly number[]): GgufKv => ({ key, value: { type: 'ARRAY', of: 'INT32', values } }),
};

export interface GgufTensor {
  name: string;
  /** Shape in torch order (outermost first); written reversed, as ggml's ne. */
  shape: readonly number[];
  type: GgufType;
  /** Exactly `bytes` bytes. */
  bytes: number;
  data(): Promise<Uint8Array>;
}

/** A little-endian byte builder for the header. */
class Bytes {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer) {
    this.parts.push(b);
    this.length += b.length;
  }
  private fixed(n: number, write: (b: Buffer) => void) {
    const b = Buffer.alloc(n);
    write(b);
    this.push(b);
  }
  u32(v: number) {
    this.fixed(4, (b) => b.writeUInt32LE(v));
  }
  u64(v: number | bigint) {
    this.fixed(8, (b) => b.writeBigUInt64LE(BigInt(v)));
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  scalar(type: GgufScalarType, v: number | bigint | boolean | string) {
    switch (type) {
      case 'UINT8': return this.fixed(1, (b) => b.writeUInt8(Number(v)));
      case 'INT8': return this.fixed(1, (b) => b.writeInt8(Number(v)));
      case 'UINT16': return this.fixed(2, (b) => b.writeUInt16LE(Number(v)));
      case 'INT16': return this.fixed(2, (b) => b.writeInt16LE(Number(v)));
      case 'UINT32': return this.u32(Number(v));
      case 'INT32': return this.fixed(4, (b) => b.writeInt32LE(Number(v)));
      case 'FLOAT32': return this.fixed(4, (b) => b.writeFloatLE(Number(v)));
      case 'BOOL': return this.fixed(1, (b) => b.writeUInt8(v ? 1 : 0));
      case 'STRING': return this.str(String(v));
      case 'UINT64': return this.u64(BigInt(v));
      case 'INT64': return this.fixed(8, (b) => b.writeBigInt64LE(BigInt(v)));
      case 'FLOAT64': return this.fixed(8, (b) => b.writeDoubleLE(Number(v)));
    }
  }
  zeros(n: number) {
    this.push(Buffer.alloc(n));
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const pad = (n: number) => (GGUF_ALIGNMENT - (n % GGUF_ALIGNMENT)) % GGUF_ALIGNMENT;

/** The header: everything before the data section, padded to the alignment. */
export function ggufHeader(kvs: readonly GgufKv[], tensors: readonly GgufTensor[]): Buffer {
  const h = new Bytes();
  h.u32(0x46554747); // "GGUF"
  h.u32(3);
  h.u64(tensors.length);
  h.u64(kvs.length);
  const keys = new Set<string>();
  for (const { key, value } of kvs) {
    if (keys.has(key)) throw new ExportError(`internal: GGUF key "${key}" written twice`);
    keys.add(key);
    h.str(key);
    h.u32(GGUF_VALUE[value.type]);
    if (value.type === 'ARRAY') {
      h.u32(GGUF_VALUE[value.of]);
      h.u64(value.values.length);
      for (const v of value.values) h.scalar(value.of, v);
    } else {
      h.scalar(value.type, value.value);
    }
  }
  let offset = 0;
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new ExportError(`internal: GGUF tensor "${t.name}" written twice`);
    names.add(t.name);
    h.str(t.name);
    const dims = t.shape.length === 0 ? [1] : [...t.shape].reverse();
    h.u32(dims.length);
    for (const d of dims) h.u64(d);
    h.u32(t.type.id);
    h.u64(offset);
    offset += t.bytes + pad(t.bytes);
  }
  h.zeros(pad(h.length));
  return h.done();
}

/** Write a GGUF file atomically; returns its size. */
export async function writeGguf(path: string, kvs: readonly GgufKv[], tensors: readonly GgufTensor[]): Promise<number> {
  const header = ggufHeader(kvs, tensors);
  const out = await AtomicFile.create(path);
  try {
    await out.write(header);
    for (const t of tensors) {
      const data = await t.data();
      if (data.length !== t.bytes) throw new ExportError(`internal: tensor "${t.name}" has ${data.length} bytes, ${t.type.name} of its shape needs ${t.bytes}`);
      await out.write(data);
      await out.write(new Uint8Array(pad(t.bytes)));
    }
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return out.bytes;
}
