/**
 * Reads chunk bytes from the model's files with positioned reads (bounded pieces, never a whole
 * file) and hashes each file with BLAKE3 as its bytes go by. The first pass reads every file
 * front to back (header, then tensors in offset order, which tile the data exactly), so the hash
 * costs no extra read; fallback re-reads are not hashed.
 */
import { open, type FileHandle } from 'node:fs/promises';

import { Blake3Hasher } from '../../common/native.js';
import { ModelFormatError } from '../model/errors.js';
import type { SafetensorsHeader } from '../model/safetensors.js';

export interface SourceHash {
  file: string;
  bytes: number;
  blake3: string;
}

interface OpenFile {
  handle: FileHandle;
  header: SafetensorsHeader;
  rel: string;
  hasher: Blake3Hasher;
  /** Next byte the hasher expects. */
  hashed: number;
}

export class SourceFiles {
  private files = new Map<string, OpenFile>();

  static async open(entries: { path: string; rel: string; header: SafetensorsHeader }[]): Promise<SourceFiles> {
    const s = new SourceFiles();
    try {
      for (const e of entries) {
        const handle = await open(e.path, 'r').catch((cause: Error) => {
          throw new ModelFormatError(e.path, `cannot open: ${cause.message}`, undefined, { cause });
        });
        const hasher = new Blake3Hasher();
        s.files.set(e.path, { handle, header: e.header, rel: e.rel, hasher, hashed: 0 });
        const head = await s.readRaw(e.path, 0, e.header.dataStart);
        hasher.update(head);
        s.files.get(e.path)!.hashed = e.header.dataStart;
      }
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  private async readRaw(path: string, offset: number, length: number): Promise<Buffer> {
    const f = this.files.get(path)!;
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await f.handle.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new ModelFormatError(path, `file ended at byte ${offset + done} while reading ${length} bytes at ${offset} (changed while reading?)`);
      }
      done += bytesRead;
    }
    return buf;
  }

  /** Read `length` bytes at `offset`; `hash` feeds them to the file's hash (first pass only). */
  async read(path: string, offset: number, length: number, hash: boolean): Promise<Buffer> {
    const buf = await this.readRaw(path, offset, length);
    if (hash) {
      const f = this.files.get(path)!;
      if (offset !== f.hashed) throw new Error(`internal: ${path} hashed out of order (${offset} != ${f.hashed})`);
      f.hasher.update(buf);
      f.hashed += length;
    }
    return buf;
  }

  /** Per-file hashes, in file order. Every file must have been read to the end. */
  hashes(): SourceHash[] {
    return [...this.files.values()].map((f) => {
      if (f.hashed !== f.header.fileBytes) throw new Error(`internal: ${f.rel} hashed ${f.hashed} of ${f.header.fileBytes} bytes`);
      return { file: f.rel, bytes: f.header.fileBytes, blake3: f.hasher.hex() };
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.files.values()].map((f) => f.handle.close().catch(() => {})));
    this.files.clear();
  }
}
