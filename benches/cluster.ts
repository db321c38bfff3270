/**
 * Cluster benchmark (issue #4 targets), on loopback with a real etcd:
 * - throughput of 2 workers (1 kernel thread each) against the in-process run with the same
 *   total cores (2 threads), RTN INT4 on the 1.44 GB Dream-shaped model, chunks by value and by
 *   reference (shared storage); plaintext and mTLS;
 * - bytes sent per parameter, and coordinator CPU seconds per GB of model.
 *
 *   npm run build && node dist/benches/cluster.js [--runs 3] [--method hqq --model dit-small]
 *
 * RTN is I/O-bound here (the in-process run takes as long with 1 thread as with 2), so the
 * second form measures a compute-bound method, where a fleet is meant to pay off.
 *
 * The model is generated once into benches/out/ (git-ignored). Outputs go to /dev/shm.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';

import { CLI, OUT, SYNTH, median, runsArg } from './paths.js';

import { Etcd, makeCerts, startCoordinator, startWorker, submit, type ClusterOptions } from '../tests/helpers/cluster.js';
import { tempDir } from '../tests/helpers/cli.js';

const args = process.argv.slice(2);
const runs = runsArg(args);
const TARGET = existsSync('/dev/shm') ? '/dev/shm' : OUT;

const method = args.includes('--method') ? args[args.indexOf('--method') + 1]! : 'rtn';
const modelName = args.includes('--model') ? args[args.indexOf('--model') + 1]! : 'dream-1.5gb';
const MODELS: Record<string, string[]> = {
  'dream-1.5gb': ['--preset', 'dream', '--scale', '1.5gb', '--layout', 'single', '--seed', '3'],
  'dit-small': ['--preset', 'dit', '--scale', 'small', '--layout', 'single', '--seed', '7'],
};

function ensureModel(): string {
  const dir = join(OUT, modelName);
  const synthArgs = MODELS[modelName];
  if (!synthArgs) throw new Error(`--model: one of ${Object.keys(MODELS).join(', ')}`);
  if (!existsSync(join(dir, 'config.json'))) execFileSync(process.execPath, [SYNTH, ...synthArgs, '-o', dir], { stdio: 'inherit' });
  return dir;
}


/** utime + stime of a process, seconds (from /proc). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const model = ensureModel();
const modelBytes = readdirSync(model).filter((f) => f.endsWith('.safetensors')).reduce((s, f) => s + statSync(join(model, f)).size, 0);
const params = modelBytes / 2; // the model is BF16/F16
execFileSync('cat', readdirSync(model).map((f) => join(model, f)), { stdio: 'ignore' }); // warm the page cache

const local: number[] = [];
for (let i = 0; i < runs; i++) {
  const out = join(TARGET, 'aq-bench-local.parquet');
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'quantize', model, '-o', out, '--profile', 'local', '--method', method, '--threads', '2', '--mode', 'threaded', '-q'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  local.push((performance.now() - t0) / 1000);
  rmSync(out, { force: true });
}

const dir = tempDir('bench-cluster');
const etcd = await Etcd.start();
const certs = makeCerts(dir);
let prefix = 0;

interface Row {
  label: string;
  seconds: number;
  bytesPerParam: number;
  coordCpuPerGb: number;
}
const rows: Row[] = [];

async function clusterRun(label: string, opts: { shared: boolean; tls: boolean }): Promise<void> {
  const o: ClusterOptions = { etcd, certs, dir, prefix: `/bench-${++prefix}/`, insecure: !opts.tls };
  const c = await startCoordinator(o, { spool: join(TARGET, `aq-bench-spool-${prefix}`) });
  await c.waitFor((l) => l.msg === 'serving');
  const workers = [0, 1].map((i) => startWorker(o, c.port, `b${i}`, { extra: [...(opts.shared ? ['--shared-root', dirname(model)] : [])] }));
  for (const w of workers) await w.waitFor((l) => l.msg === 'connected');
  const seconds: number[] = [];
  const bytes: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const out = join(TARGET, `aq-bench-cluster-${i}.parquet`);
    const cpu0 = cpuSeconds(c.child.pid!);
    const before = c.count('job done');
    const t0 = performance.now();
    const client = submit(o, c.port, model, out, ['--method', method, '--threads', '2', '-q']);
    const exit = await client.exited;
    if (exit.code !== 0) throw new Error(client.stderr);
    seconds.push((performance.now() - t0) / 1000);
    await c.waitFor(() => c.count('job done') > before);
    const last = c.lines.filter((l) => l.msg === 'job done').pop()!;
    cpu.push(cpuSeconds(c.child.pid!) - cpu0);
    bytes.push(last.bytesSent as number);
    rmSync(out, { force: true });
  }
  // Scheduler stats are cumulative over the coordinator's life: per-run difference.
  const perRun = bytes.map((b, i) => b - (i > 0 ? bytes[i - 1]! : 0));
  rows.push({ label, seconds: median(seconds), bytesPerParam: median(perRun) / params, coordCpuPerGb: median(cpu) / (modelBytes / 1e9) });
  for (const w of workers) await w.kill('SIGTERM');
  await c.kill('SIGTERM');
}

await clusterRun('2 workers, by value, plaintext', { shared: false, tls: false });
await clusterRun('2 workers, by value, mTLS', { shared: false, tls: true });
await clusterRun('2 workers, by reference, mTLS', { shared: true, tls: true });
await etcd.stop();
rmSync(dir, { recursive: true, force: true });

const base = median(local);
console.log(`cluster benchmark: ${(modelBytes / 1e9).toFixed(2)} GB model (${(params / 1e6).toFixed(0)} M params), ${method} INT4 g128, ${runs} runs (median), ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}`);
console.log(`in-process, 2 threads: ${base.toFixed(2)} s (${(modelBytes / 1e9 / base).toFixed(2)} GB/s)`);
for (const r of rows) {
  console.log(`${r.label}: ${r.seconds.toFixed(2)} s, throughput ${(base / r.seconds).toFixed(2)}× in-process; ${r.bytesPerParam.toFixed(3)} bytes sent per parameter; coordinator CPU ${r.coordCpuPerGb.toFixed(2)} s per GB`);
}
