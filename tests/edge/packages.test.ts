/**
 * `npm install arrowquant` without a Rust toolchain: the packed main package and the prebuilt
 * linux-x64-gnu addon package (scripts/pack-native.sh) installed into an empty folder with no
 * cargo or rustc on PATH, and the README's example run from it: its file is byte for byte the
 * repository build's.
 */
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { runCli, sha256, synth, tempDir } from '../helpers/cli.js';
import { npmInstall, packages, pathWithoutRust, run, tarball, type Packages } from '../helpers/edge.js';

let pkgs: Packages;
let dir: string;
let app: string;
let env: NodeJS.ProcessEnv;
let model: string;
let repoHash: string;

const bin = (name: string) => join(app, 'node_modules', '.bin', name);

beforeAll(async () => {
  // The x86-64 package this machine runs; npm run test:edge also packs (and tests) the arm64 one.
  pkgs = packages(process.env.ARROWQUANT_PACK_PLATFORMS?.split(',') ?? ['linux-x64-gnu']);
  dir = tempDir('packages');
  app = join(dir, 'app');
  execFileSync('mkdir', ['-p', app]);
  env = { PATH: pathWithoutRust(), HOME: process.env.HOME, ARROW_QUANT_CACHE_DIR: join(dir, 'cache') };
  model = join(dir, 'dit-small');
  await synth('dit', 'diffusers', model, 'small', 7);
  const r = await runCli(['quantize', model, '-o', join(dir, 'repo.parquet'), '--profile', 'local', '-q']);
  assert.equal(r.code, 0, r.stderr);
  repoHash = sha256(join(dir, 'repo.parquet'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm packages', () => {
  test('the tarballs: the main package carries the loader and no addon; each platform package its addon and platform', () => {
    const list = (t: string) => execFileSync('tar', ['-tzf', t], { encoding: 'utf8' }).trim().split('\n');
    const main = list(pkgs.main);
    for (const f of ['package/native/index.cjs', 'package/dist/cli/main.js', 'package/dist/tools/synth/cli.js', 'package/proto/arrowquant/v1/cluster.proto']) assert.ok(main.includes(f), `${f} in ${pkgs.main}`);
    assert.deepEqual(main.filter((f) => f.endsWith('.node')), [], 'no addon in the main package');
    assert.deepEqual(main.filter((f) => f.startsWith('package/dist/tests/')), [], 'no tests in the main package');
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', pkgs.main, 'package/package.json'], { encoding: 'utf8' })) as { optionalDependencies: Record<string, string>; version: string };
    assert.deepEqual(Object.keys(manifest.optionalDependencies).sort(), ['@arrowquant/native-darwin-arm64', '@arrowquant/native-darwin-x64', '@arrowquant/native-linux-arm64-gnu', '@arrowquant/native-linux-x64-gnu']);
    for (const v of Object.values(manifest.optionalDependencies)) assert.equal(v, manifest.version);
    assert.ok(pkgs.platforms.has('linux-x64-gnu'));
    const cpus: Record<string, string> = { 'linux-x64-gnu': 'x64', 'linux-arm64-gnu': 'arm64' };
    for (const [platform, t] of pkgs.platforms) {
      const [cpu, file] = [cpus[platform], `arrowquant.${platform}.node`];
      assert.ok(list(t).includes(`package/${file}`), `${file} in ${t}`);
      const p = JSON.parse(execFileSync('tar', ['-xzOf', t, 'package/package.json'], { encoding: 'utf8' })) as { os: string[]; cpu: string[]; libc: string[]; version: string };
      assert.deepEqual([p.os, p.cpu, p.libc, p.version], [['linux'], [cpu], ['glibc'], manifest.version]);
    }
  });

  test('installed from the tarballs with no Rust toolchain on PATH, the example runs and writes the repository build\'s bytes', async () => {
    for (const tool of ['cargo', 'rustc']) assert.notEqual((await run(['sh', '-c', `command -v ${tool}`], { env })).code, 0, `${tool} is still on PATH`);
    const inst = await npmInstall(app, [pkgs.main, tarball(pkgs, 'linux-x64-gnu')], [], env);
    assert.equal(inst.code, 0, inst.stderr);
    assert.ok(existsSync(join(app, 'node_modules', '@arrowquant', 'native-linux-x64-gnu', 'arrowquant.linux-x64-gnu.node')));
    assert.deepEqual(readdirSync(join(app, 'node_modules', 'arrowquant', 'native')).sort(), ['index.cjs', 'index.d.cts'], 'the addon comes from the platform package');

    // README's example, as a user runs it from the installed package.
    const m = join(app, 'models', 'dit-small');
    const gen = await run([bin('arrowquant-synth'), '--preset', 'dit', '--scale', 'small', '--layout', 'diffusers', '--seed', '7', '-o', m, '-q'], { cwd: app, env });
    assert.equal(gen.code, 0, gen.stderr);
    const out = join(app, 'dit-small.int4.parquet');
    const q = await run([bin('arrowquant'), 'quantize', m, '-o', out, '--profile', 'local', '--report', join(app, 'report.json')], { cwd: app, env });
    assert.equal(q.code, 0, q.stderr);
    const inspect = await run([bin('arrowquant'), 'inspect', out], { cwd: app, env });
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, /fallbacks/);
    assert.equal(sha256(out), repoHash, 'the installed package writes the repository build\'s file');
    const v = await run([bin('arrowquant'), '--version'], { cwd: app, env });
    assert.equal(v.stdout.trim(), JSON.parse(execFileSync('tar', ['-xzOf', pkgs.main, 'package/package.json'], { encoding: 'utf8' })).version);
  });

  test('without the platform package, the CLI says which package to install (exit 1, no stack trace)', async () => {
    const scope = join(app, 'node_modules', '@arrowquant');
    const aside = join(app, 'node_modules', '.arrowquant-aside');
    renameSync(scope, aside);
    try {
      const r = await run([bin('arrowquant'), 'quantize', model, '-o', join(app, 'never.parquet')], { cwd: app, env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error: cannot load the native kernels for linux-x64/);
      assert.match(r.stderr, /install @arrowquant\/native-linux-x64-gnu/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.ok(!existsSync(join(app, 'never.parquet')));
    } finally {
      renameSync(aside, scope);
    }
  });
});
