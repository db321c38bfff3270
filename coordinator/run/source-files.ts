/**
 * The model's files, opened once: positioned reads in bounded pieces (never a whole file), each
 * file hashed with BLAKE3 by the reads that walk it front to back (header, then tensors in
 * offset order, which tile the data exactly), so hashing costs no second pass. The bytes stay in
 * Rust (`SourceChunk`) until a kernel or the writer consumes them.
 */
import { SourceFile, type SourceChunk } from '../../common/native.js';
import { ModelFormatError } from '../model/errors.js';
import type { SafetensorsHeader } from '../model/safetensors.js';

export interface SourceHash {
  file: string;
  bytes: number;
  blake3: string;
}

interface OpenFile {
  file: SourceFile;
  header: SafetensorsHeader;
  rel: string;
}

export class SourceFiles {
  private files = new Map<string, OpenFile>();

  static async open(entries: { path: string; rel: string; header: SafetensorsHeader }[]): Promise<SourceFiles> {
    const s = new SourceFiles();
    for (const e of entries) {
      let file: SourceFile;
      try {
        file = SourceFile.open(e.path);
      } catch (cause) {
        throw new ModelFormatError(e.path, (cause as Error).message, undefined, { cause });
      }
      if (file.size !== e.header.fileBytes) throw new ModelFormatError(e.path, `changed since its header was read (${file.size} bytes, was ${e.header.fileBytes})`);
      s.files.set(e.path, { file, header: e.header, rel: e.rel });
      (await s.read(e.path, 0, e.header.dataStart, true)).release();
    }
    return s;
  }

  /** Read `length` bytes at `offset`; `hash` continues the file's in-order hash (first pass only). */
  async read(path: string, offset: number, length: number, hash: boolean): Promise<SourceChunk> {
    const f = this.files.get(path);
    if (!f) throw new Error(`internal: ${path} was not opened`);
    try {
      return await f.file.read(offset, length, hash);
    } catch (cause) {
      throw new ModelFormatError(path, (cause as Error).message, undefined, { cause });
    }
  }

  /** Per-file hashes, in file order. Every file must have been read to the end. */
  hashes(): SourceHash[] {
    return [...this.files.values()].map((f) => {
      if (f.file.hashedBytes !== f.header.fileBytes) throw new Error(`internal: ${f.rel} hashed ${f.file.hashedBytes} of ${f.header.fileBytes} bytes`);
      return { file: f.rel, bytes: f.header.fileBytes, blake3: f.file.blake3Hex() };
    });
  }

  /** Files close when collected; dropping the references is all there is to do. */
  async close(): Promise<void> {
    this.files.clear();
  }
}
