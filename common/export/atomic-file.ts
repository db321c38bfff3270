/**
 * An output file written beside its final path and renamed into place when complete, so a failed
 * export never leaves a half-written file (and an existing file stays until the new one is done).
 */
import { open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export class AtomicFile {
  private written = 0;
  private constructor(
    readonly path: string,
    private readonly temp: string,
    private readonly fh: FileHandle,
  ) {}

  static async create(path: string): Promise<AtomicFile> {
    const temp = join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
    return new AtomicFile(path, temp, await open(temp, 'w'));
  }

  get bytes(): number {
    return this.written;
  }

  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await this.fh.write(data, off, data.length - off, this.written);
      off += bytesWritten;
      this.written += bytesWritten;
    }
  }

  async commit(): Promise<void> {
    await this.fh.sync();
    await this.fh.close();
    await rename(this.temp, this.path);
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => {});
    await rm(this.temp, { force: true });
  }
}
