/**
 * Shared storage: a worker started with `--shared-root DIR` reads chunks and Hessians by
 * reference when they lie under DIR. Both sides decide with this one check, on resolved paths
 * (so `DIR/../elsewhere` and `DIR-other/` are outside, where a prefix test would let them in).
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';

/** The resolved `path` when it lies under `root`; undefined otherwise (or when there is no root). */
export function underRoot(path: string, root: string): string | undefined {
  if (!root || !isAbsolute(path)) return undefined;
  const full = resolve(path);
  const rel = relative(resolve(root), full);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) return undefined;
  return full;
}
