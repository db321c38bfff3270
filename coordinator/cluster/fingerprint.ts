/**
 * What a job's checkpoints were computed from: every file that defines the model (safetensors
 * shards, their index and the JSON configs) and the calibration file, by path, size and
 * modification time. A resubmitted or resumed job whose sources changed since its chunks were
 * committed must not reuse them, and a finished job's output is replayed only when it is the
 * file that job wrote. Size and mtime (not content hashes) because hashing a 7B model costs a
 * full read; a tool that rewrites a file in place keeping both is not a case we defend against.
 */
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

const MODEL_FILE = /\.(safetensors|json)$/;

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (MODEL_FILE.test(e.name)) out.push(p);
  }
}

async function describe(path: string, root: string): Promise<string> {
  const st = await stat(path).catch(() => undefined);
  return `${relative(root, path) || path}:${st ? `${st.size}:${Math.round(st.mtimeMs)}` : 'missing'}`;
}

/** A short hash of the sources' sizes and modification times. */
export async function sourceFingerprint(modelPath: string, calibrationPath?: string): Promise<string> {
  const st = await stat(modelPath).catch(() => undefined);
  const files: string[] = [];
  if (st?.isDirectory()) await walk(modelPath, files);
  else files.push(modelPath);
  files.sort();
  const lines = await Promise.all(files.map((f) => describe(f, modelPath)));
  if (calibrationPath) lines.push(`calibration ${await describe(calibrationPath, '')}`);
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 32);
}

/** The output as written: size and modification time. */
export async function outputStamp(outputPath: string): Promise<string | undefined> {
  const st = await stat(outputPath).catch(() => undefined);
  return st?.isFile() ? `${st.size}:${Math.round(st.mtimeMs)}` : undefined;
}
