/**
 * Shared storage: a worker started with `--shared-root DIR` reads chunks and Hessians by
 * reference when they lie under DIR. Both sides decide with this one check, on resolved paths
 * (so `DIR/../elsewhere` and `DIR-other/` are outside, where a prefix test would let them in).
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';

/** The resolved `path` when it lies under `root`; undefined otherwise (or when there is no root). */
export function underRoot(path: string, root: string): string | undefined {
  if (!root || !isAbsolute(path)) return undefined;
  const full = resolve(path);
  const rel = relative(resolve(root), full);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) return undefined;
  return full;
}

/**
 * The worker's check before it opens anything: the same test on real paths, so a symbolic link
 * under the root cannot lead outside it. Undefined when outside (or not there at all).
 */
export async function underRealRoot(path: string, root: string): Promise<string | undefined> {
  if (!underRoot(path, root)) return undefined;
  const [realPath, realRoot] = await Promise.all([realpath(path).catch(() => undefined), realpath(root).catch(() => undefined)]);
  return realPath && realRoot ? underRoot(realPath, realRoot) : undefined;
}
