/** Test helpers: run the real CLI as a child process, hash files, make temp dirs. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root: the nearest directory above this file holding package.json. This file runs
 * from its source (tests/helpers/cli.ts, under vitest) and compiled (dist/tests/helpers/cli.js,
 * imported by benches/cluster.ts); both find the same root.
 */
export const ROOT = (() => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
  }
})();
/** dist/ root: the compiled CLI the tests run as child processes (`npm run build` makes it). */
export const DIST = join(ROOT, 'dist');
export const CLI = join(DIST, 'cli', 'main.js');
export const SYNTH = join(DIST, 'tools', 'synth', 'cli.js');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; onStderrLine?: (line: string, child: ReturnType<typeof spawn>) => void; script?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    // A clean environment: no ARROW_QUANT_* leaking in from the developer's shell.
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ARROW_QUANT_')));
    const child = spawn(process.execPath, [opts.script ?? CLI, ...args], { env: { ...base, ...opts.env } });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) opts.onStderrLine?.(l, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `aq-${prefix}-`));
}

export async function synth(preset: 'dit' | 'dream', layout: 'single' | 'sharded' | 'diffusers', out: string, scale = 'tiny', seed = 1): Promise<void> {
  const r = await runCli(['--preset', preset, '--scale', scale, '--layout', layout, '--seed', String(seed), '-o', out, '-q'], { script: SYNTH });
  if (r.code !== 0) throw new Error(`synth failed: ${r.stderr}`);
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Every file under `dir` with its sha256: to prove inputs were not touched. */
export function treeHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[p] = sha256(p);
    }
  };
  walk(dir);
  return out;
}

export function jsonLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
