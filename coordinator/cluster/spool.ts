/**
 * Committed chunk results on the coordinator's disk, so a restarted (or standby) coordinator
 * resumes a job without recomputing them. One file per committed chunk, written to a temporary
 * name and renamed, then recorded in etcd (the record is the commit; a file without a record is
 * garbage from a crash and is overwritten). No fsync: a file torn by a machine crash fails its
 * checksum on resume and the chunk is recomputed, so durability costs nothing per chunk.
 *
 * File: codes ‖ scales ‖ zeros; the lengths and SHA-256 are in the etcd record.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

import type { ResultBytes } from '../../common/cluster/arrow-codec.js';
import { resultChecksum } from '../../common/cluster/checksum.js';
import { CheckpointError } from '../../common/cluster/errors.js';
import type { CommitRecord } from './etcd.js';

export class Spool {
  constructor(readonly root: string) {}

  private dir(job: string): string {
    return join(this.root, job);
  }

  /** `sha256`: the result's checksum, already verified by the scheduler. */
  async write(job: string, key: string, r: ResultBytes, sha256: Buffer): Promise<{ file: string; sha256: string }> {
    await mkdir(this.dir(job), { recursive: true });
    const file = join(this.dir(job), `${key.replaceAll('/', '.')}.chunk`);
    const tmp = `${file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writev([r.codes, r.scales, r.zeros]);
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    return { file, sha256: sha256.toString('hex') };
  }

  /** A committed result, checked against its record. */
  async read(key: string, rec: CommitRecord): Promise<ResultBytes> {
    let bytes: Buffer;
    try {
      bytes = await readFile(rec.file);
    } catch (cause) {
      throw new CheckpointError(key, `spool file ${rec.file}: ${(cause as Error).message}`, { cause });
    }
    if (bytes.length !== rec.codes + rec.scales + rec.zeros) throw new CheckpointError(key, `spool file ${rec.file} has ${bytes.length} bytes, the record says ${rec.codes + rec.scales + rec.zeros}`);
    const r = { codes: bytes.subarray(0, rec.codes), scales: bytes.subarray(rec.codes, rec.codes + rec.scales), zeros: bytes.subarray(rec.codes + rec.scales) };
    if (resultChecksum(r).toString('hex') !== rec.sha256) throw new CheckpointError(key, `spool file ${rec.file} does not match its checksum`);
    return r;
  }

  async removeJob(job: string): Promise<void> {
    await rm(this.dir(job), { recursive: true, force: true });
  }
}
