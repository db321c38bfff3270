/**
 * What the edge tests need beyond `npm run build`, made by the project's own scripts (idempotent,
 * cached under .cache/): the npm tarballs (scripts/pack-native.sh: the main package and the
 * linux-x64-gnu / linux-arm64-gnu addon packages, the aarch64 one cross-compiled), and an arm64
 * Node run under qemu-user (scripts/setup-node-arm64.sh). scripts/test-all.sh packs the x86-64
 * package before the TypeScript tests and `npm run test:edge` both packages and the arm64 Node,
 * so here the scripts only print their outputs' paths.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT, type CliRun } from './cli.js';

export interface Packages {
  main: string;
  /** Each platform package pack-native.sh packed (ARROWQUANT_PACK_PLATFORMS), by platform. */
  platforms: Map<string, string>;
}

function lastLines(script: string, n: number, args: string[] = []): string[] {
  const out = execFileSync('bash', [join(ROOT, 'scripts', script), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * 60_000 });
  return out.trim().split('\n').slice(-n);
}

/** The tarballs of the platforms asked for (the others are not packed). */
export function packages(platforms: string[]): Packages {
  const env = { ...process.env, ARROWQUANT_PACK_PLATFORMS: platforms.join(',') };
  const out = execFileSync('bash', [join(ROOT, 'scripts', 'pack-native.sh')], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * 60_000 });
  const [main, ...rest] = out.trim().split('\n').slice(-(platforms.length + 1));
  return { main: main!, platforms: new Map(platforms.map((p, i) => [p, rest[i]!])) };
}

/** The tarball of one platform package, which packages() must have been asked for. */
export function tarball(pkgs: Packages, platform: string): string {
  const t = pkgs.platforms.get(platform);
  if (t === undefined) throw new Error(`no ${platform} package was packed`);
  return t;
}

/** The command prefix that runs the arm64 Node binary (qemu-aarch64 -L SYSROOT NODE). */
export function arm64Node(): string[] {
  return lastLines('setup-node-arm64.sh', 1)[0]!.split(' ');
}

/** PATH without any directory that holds cargo or rustc: what a user without Rust has. */
export function pathWithoutRust(): string {
  return (process.env.PATH ?? '')
    .split(':')
    .filter((d) => d !== '' && !existsSync(join(d, 'cargo')) && !existsSync(join(d, 'rustc')))
    .join(':');
}

/** Run a command to completion, output collected (no shell). */
export function run(cmd: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ARROW_QUANT_')));
    const child = spawn(cmd[0]!, cmd.slice(1), { cwd: opts.cwd, env: { ...base, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** `npm install` of local tarballs into `dir` (a fresh folder), dependencies from the registry. */
export async function npmInstall(dir: string, tarballs: string[], extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  execFileSync('npm', ['init', '-y'], { cwd: dir, stdio: 'ignore' });
  // --prefer-offline: the packages the repository's own install already put in npm's cache.
  return run(['npm', 'install', '--no-audit', '--no-fund', '--prefer-offline', ...extra, ...tarballs], { cwd: dir, env });
}
