/** Where the benchmarks find the built CLI and keep their generated models (benches/out/, git-ignored). */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DIST = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = join(DIST, '..');
export const OUT = join(ROOT, 'benches', 'out');
export const CLI = join(DIST, 'cli', 'main.js');
export const SYNTH = join(DIST, 'tools', 'synth', 'cli.js');

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** `--runs N` (default 3). */
export function runsArg(args: string[]): number {
  return Number(args[args.indexOf('--runs') + 1] ?? 3) || 3;
}
