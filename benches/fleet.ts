/**
 * A fleet you can see (issue 16): N workers on one machine, each confined to a share of the CPUs,
 * for a compute-bound method; job time against N and the coordinator's CPU per GB, then the model
 * on paper for 32 and 128 workers.
 *
 *   npm run build && node dist/benches/fleet.js [--method hqq] [--model dit-small] [--share 0.5]
 *       [--workers 1,2,4] [--shared] [--runs 1]
 *
 * Each worker runs in its own cgroup (v1 `cpu` controller: cfs_quota = share × period) with one
 * kernel thread, so N workers have N × share cores between them; the coordinator, etcd and the
 * client are not confined (they share the machine with the workers, which is what a small
 * coordinator box does). Without a writable cgroup hierarchy the workers are pinned with
 * `taskset` to one core each instead (share 1, N ≤ cores). Chunks go by value unless --shared.
 * Every job's file is compared with the in-process run's (same bytes).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';

import { CLI, OUT, SYNTH, median, runsArg } from './paths.js';

import { Etcd, makeCerts, startCoordinator, startWorker, submit, type ClusterOptions, type Service } from '../tests/helpers/cluster.js';
import { sha256, tempDir } from '../tests/helpers/cli.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const runs = runsArg([...args, ...(args.includes('--runs') ? [] : ['--runs', '1'])]);
const method = arg('--method', 'hqq');
const modelName = arg('--model', 'dit-small');
const shared = args.includes('--shared');
const TARGET = existsSync('/dev/shm') ? '/dev/shm' : OUT;
const MODELS: Record<string, string[]> = {
  'dit-small': ['--preset', 'dit', '--scale', 'small', '--layout', 'single', '--seed', '7'],
  'dream-1.5gb': ['--preset', 'dream', '--scale', '1.5gb', '--layout', 'single', '--seed', '3'],
};
const CGROUP_CPU = '/sys/fs/cgroup/cpu';
const useCgroups = (() => {
  try {
    mkdirSync(join(CGROUP_CPU, 'aq-fleet-probe'));
    rmdirSync(join(CGROUP_CPU, 'aq-fleet-probe'));
    return true;
  } catch {
    return false;
  }
})();
const share = useCgroups ? Number(arg('--share', '0.5')) : 1;
const counts = arg('--workers', useCgroups ? [1, 2, 4].filter((n) => n * share <= cpus().length).join(',') : [1, 2].filter((n) => n <= cpus().length).join(','))
  .split(',')
  .map(Number);

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

/** A CPU-limited cgroup for worker `i` (or a core for taskset), and the command prefix that enters it. */
function confinement(i: number): { node: string[]; cleanup: () => void } {
  if (useCgroups) {
    const dir = join(CGROUP_CPU, `aq-fleet-${process.pid}-${i}`);
    mkdirSync(dir, { recursive: true });
    const period = Number(readFileSync(join(dir, 'cpu.cfs_period_us'), 'utf8'));
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Math.round(share * period)));
    // The shell enters the cgroup, then becomes node: the worker and its threads stay in it.
    return {
      node: ['sh', '-c', `echo $$ > ${join(dir, 'cgroup.procs')} && exec "$0" "$@"`, process.execPath],
      cleanup: () => {
        for (let k = 0; k < 50; k++) {
          try {
            rmdirSync(dir);
            return;
          } catch {
            spawnSync('sleep', ['0.1']);
          }
        }
      },
    };
  }
  return { node: ['taskset', '-c', String(i % cpus().length), process.execPath], cleanup: () => {} };
}

const model = ensureModel();
const modelBytes = readdirSync(model).filter((f) => f.endsWith('.safetensors')).reduce((s, f) => s + statSync(join(model, f)).size, 0);
const gb = modelBytes / 1e9;
execFileSync('cat', readdirSync(model).map((f) => join(model, f)), { stdio: 'ignore' }); // warm the page cache

// The baseline: the in-process run on one core (the same work a 1-core worker does).
const localOut = join(TARGET, 'aq-fleet-local.parquet');
const localTimes: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'quantize', model, '-o', localOut, '--profile', 'local', '--method', method, '--threads', '1', '-q'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  localTimes.push((performance.now() - t0) / 1000);
}
const localHash = sha256(localOut);

const dir = tempDir('bench-fleet');
const etcd = await Etcd.start();
const certs = makeCerts(dir);
let prefix = 0;

interface Row {
  n: number;
  seconds: number;
  coordCpu: number;
  workerCores: number;
}
const rows: Row[] = [];

for (const n of counts) {
  const o: ClusterOptions = { etcd, certs, dir, prefix: `/fleet-${process.pid}-${++prefix}/`, insecure: true };
  const c = await startCoordinator(o, { spool: join(TARGET, `aq-fleet-spool-${prefix}`) });
  await c.waitFor((l) => l.msg === 'serving');
  const confined = Array.from({ length: n }, (_, i) => confinement(i));
  const workers: Service[] = confined.map((cf, i) => startWorker(o, c.port, `f${i}`, { node: cf.node, extra: shared ? ['--shared-root', dirname(model)] : [] }));
  for (const w of workers) await w.waitFor((l) => l.msg === 'connected', 60_000);
  const seconds: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    const out = join(TARGET, `aq-fleet-${n}-${r}.parquet`);
    const cpu0 = cpuSeconds(c.child.pid!);
    const before = c.count('job done');
    const t0 = performance.now();
    const client = submit(o, c.port, model, out, ['--method', method, '-q']);
    const exit = await client.exited;
    if (exit.code !== 0) throw new Error(client.stderr);
    seconds.push((performance.now() - t0) / 1000);
    await c.waitFor(() => c.count('job done') > before);
    cpu.push(cpuSeconds(c.child.pid!) - cpu0);
    if (sha256(out) !== localHash) throw new Error(`${n} workers: the file differs from the in-process run's`);
    rmSync(out, { force: true });
  }
  rows.push({ n, seconds: median(seconds), coordCpu: median(cpu), workerCores: n * share });
  await Promise.all(workers.map((w) => w.kill('SIGTERM')));
  await c.kill('SIGTERM');
  for (const cf of confined) cf.cleanup();
}
await etcd.stop();
rmSync(dir, { recursive: true, force: true });
rmSync(localOut, { force: true });

const base = median(localTimes);
console.log(`# fleet: ${modelName} (${gb.toFixed(3)} GB), --method ${method}, chunks ${shared ? 'by reference' : 'by value'}, plaintext, ${runs} run(s) (median); ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}`);
console.log(`# workers: 1 kernel thread each, ${useCgroups ? `confined to ${share} CPU each (cgroup cpu quota)` : 'pinned to one core each (taskset)'}; coordinator, etcd and client unconfined`);
console.log(`# in-process, 1 thread: ${base.toFixed(2)} s`);
console.log('workers  worker cores   job s   speed-up vs 1 worker   vs in-process 1 thread   coordinator CPU s   per GB   coordinator share of the job');
const one = rows.find((r) => r.n === 1)?.seconds ?? rows[0]!.seconds;
for (const r of rows) {
  console.log(
    `${String(r.n).padStart(7)}  ${r.workerCores.toFixed(2).padStart(12)}  ${r.seconds.toFixed(2).padStart(6)}  ${(one / r.seconds).toFixed(2).padStart(20)}×  ${(base / r.seconds).toFixed(2).padStart(22)}×  ${r.coordCpu.toFixed(2).padStart(17)}  ${(r.coordCpu / gb).toFixed(2).padStart(6)}  ${((100 * r.coordCpu) / r.seconds).toFixed(0).padStart(25)}%`,
  );
}
// On paper: the job needs W core-seconds of worker work (from the 1-worker run) and C coordinator
// core-seconds (per GB, measured), and one coordinator core can give at most 1 s per second.
const work = (rows.find((r) => r.n === 1)?.seconds ?? base) * (rows.find((r) => r.n === 1)?.workerCores ?? 1);
const coordPerGb = median(rows.map((r) => r.coordCpu / gb));
console.log(`# on paper, per GB of model: ${(work / gb).toFixed(1)} worker core-seconds, ${coordPerGb.toFixed(2)} coordinator core-seconds`);
for (const n of [32, 128]) {
  const workersBound = work / gb / n;
  console.log(`#   ${n} one-core workers: ${workersBound.toFixed(2)} s/GB of worker time against ${coordPerGb.toFixed(2)} s/GB of one coordinator core -> ${coordPerGb > workersBound ? `coordinator-bound (${(workersBound / coordPerGb * 100).toFixed(0)}% worker use; ${Math.ceil(coordPerGb / workersBound)} coordinators or tensor-split jobs would keep them busy)` : 'worker-bound'}`);
}
