/**
 * The cluster on loopback, with real processes: an etcd server, a coordinator, workers and the
 * `quantize --coordinator` client, all over mutual TLS. Every run's file is compared byte for
 * byte with the local run's.
 */
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import * as grpc from '@grpc/grpc-js';

import { SYNTH, runCli, sha256, synth, tempDir } from '../helpers/cli.js';
import { Etcd, freePort, healthStatus, makeCerts, startCoordinator, startWorker, submit, tlsArgs, type ClusterOptions, type LogLine, type Service } from '../helpers/cluster.js';
import { CHANNEL_OPTIONS, CoordinatorClient } from '../../common/cluster/proto.js';

let etcd: Etcd;
let dir: string;
let certs: string;
let model: string;
let localHash: string;
let prefixes = 0;
const services: Service[] = [];

function cluster(): ClusterOptions {
  return { etcd, certs, dir, prefix: `/aq-test-${process.pid}-${++prefixes}/` };
}

function track<T extends Service>(s: T): T {
  services.push(s);
  return s;
}

const jobDone = (l: LogLine) => l.msg === 'job done';
const summaryLine = (l: LogLine) => l.event === 'summary';

async function clientResult(client: Service): Promise<void> {
  const exit = await client.exited;
  assert.equal(exit.code, 0, `client failed: ${client.stderr.slice(-3000)}`);
}

beforeAll(async () => {
  dir = tempDir('cluster');
  etcd = await Etcd.start();
  certs = makeCerts(dir);
  model = join(dir, 'model');
  await synth('dit', 'diffusers', model, 'small', 7);
  const local = await runCli(['quantize', model, '-o', join(dir, 'local.parquet'), '--profile', 'local', '-q']);
  assert.equal(local.code, 0, local.stderr);
  localHash = sha256(join(dir, 'local.parquet'));
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.kill('SIGKILL')));
  await etcd?.stop();
});

describe('cluster', () => {
  test('three workers (threaded, streaming, shared storage) write the local run\'s exact bytes', async () => {
    const o = cluster();
    const c = track(await startCoordinator(o, { extra: ['--health-listen', '127.0.0.1:0'] }));
    await c.waitFor((l) => l.msg === 'serving');
    const w = [
      track(startWorker(o, c.port, 'w-threaded')),
      track(startWorker(o, c.port, 'w-streaming', { extra: ['--mode', 'streaming'] })),
      track(startWorker(o, c.port, 'w-shared', { extra: ['--shared-root', dir] })),
    ];
    for (const x of w) await x.waitFor((l) => l.msg === 'connected');
    const out = join(dir, 'three.parquet');
    const client = track(submit(o, c.port, model, out));
    await clientResult(client);
    assert.equal(sha256(out), localHash);
    const done = await c.waitFor(jobDone);
    assert.ok((done.byReference as number) > 0, 'the shared-storage worker got chunks by reference');
    assert.ok((done.dispatched as number) > (done.byReference as number), 'other workers got chunks by value');
    assert.equal(done.checksumFailures, 0);
    // Every worker did some of the work.
    const left = await Promise.all(w.map(async (x) => (await x.kill('SIGTERM'), x.lines.find((l) => l.msg === 'stopped')?.chunksDone as number)));
    for (const [i, n] of left.entries()) assert.ok(n > 0, `worker ${i} did no chunk`);
    // SIGTERM drains the coordinator and it exits cleanly.
    const exit = await c.kill('SIGTERM');
    assert.equal(exit.code, 0);
    assert.ok(c.lines.some((l) => l.msg === 'stopped'));
    // The committed-chunk spool of a finished job is cleaned up.
    assert.deepEqual(existsSync(join(dir, 'spool')) ? readdirSync(join(dir, 'spool')) : [], []);
  });

  test('calibrated layers (GPTQ with smoothing) run on the workers, Hessians by value and by reference, same bytes', async () => {
    const o = cluster();
    const cmodel = join(dir, 'cmodel');
    const calib = join(dir, 'cmodel.calib.safetensors');
    const gen = await runCli(['--preset', 'dit', '--scale', 'tiny', '--layout', 'diffusers', '--seed', '5', '-o', cmodel, '--calibration', calib, '-q'], { script: SYNTH });
    assert.equal(gen.code, 0, gen.stderr);
    const args = ['--method', 'auto', '--calibration', calib];
    const local = await runCli(['quantize', cmodel, '-o', join(dir, 'c-local.parquet'), '--profile', 'local', ...args, '-q']);
    assert.equal(local.code, 0, local.stderr);
    const c = track(await startCoordinator(o));
    await c.waitFor((l) => l.msg === 'serving');
    const w = [track(startWorker(o, c.port, 'c-value')), track(startWorker(o, c.port, 'c-shared', { extra: ['--shared-root', dir] }))];
    for (const x of w) await x.waitFor((l) => l.msg === 'connected');
    const out = join(dir, 'c-cluster.parquet');
    await clientResult(track(submit(o, c.port, cmodel, out, args)));
    assert.equal(sha256(out), sha256(join(dir, 'c-local.parquet')));
    const done = await c.waitFor(jobDone);
    assert.ok((done.dispatched as number) > 0);
    assert.equal(c.count('a calibrated chunk without a layer description runs on the coordinator'), 0);
    // Both workers ran calibrated chunks (the by-value one received Hessians over the stream).
    for (const name of ['c-value', 'c-shared']) assert.ok(c.lines.some((l) => l.msg === 'chunk committed' && l.worker === name && String(l.chunk).includes('@')), `${name} ran no calibrated chunk`);

    // Fallbacks rerun a calibrated layer at more bits, on a worker that may have released its
    // Hessian since: it must ask for it again rather than wait for parts that will not come.
    await w[1]!.kill('SIGTERM');
    const strict = ['--method', 'gptq', '--calibration', calib, '--bits', '2', '--min-accuracy', '0.995'];
    const strictLocal = join(dir, 'c-strict-local.parquet');
    const report = join(dir, 'c-strict.report.json');
    const l2 = await runCli(['quantize', cmodel, '-o', strictLocal, '--profile', 'local', ...strict, '--report', report, '-q']);
    assert.equal(l2.code, 0, l2.stderr);
    const fallbacks = (JSON.parse(readFileSync(report, 'utf8')) as { summary: { fallbacks: number } }).summary.fallbacks;
    assert.ok(fallbacks >= 4, `expected fallbacks at 2 bits, got ${fallbacks}`);
    const strictOut = join(dir, 'c-strict-cluster.parquet');
    await clientResult(track(submit(o, c.port, cmodel, strictOut, strict)));
    assert.equal(sha256(strictOut), sha256(strictLocal));
  });

  test('GGUF formats on the workers: a K-quant mix with importance and GPTQ onto q4_k write the local bytes', async () => {
    const o = cluster();
    const gmodel = join(dir, 'gmodel');
    const calib = join(dir, 'gmodel.calib.safetensors');
    // DiT small: its FFN down projections (2304 inputs) are whole super-blocks; the 576-wide
    // layers take llama.cpp's row fallback (Q4_K → Q5_0, Q6_K → Q8_0).
    const gen = await runCli(['--preset', 'dit', '--scale', 'small', '--layout', 'single', '--seed', '8', '-o', gmodel, '--calibration', calib, '--time-groups', '2', '-q'], { script: SYNTH });
    assert.equal(gen.code, 0, gen.stderr);
    const c = track(await startCoordinator(o));
    await c.waitFor((l) => l.msg === 'serving');
    const w = [track(startWorker(o, c.port, 'g-value')), track(startWorker(o, c.port, 'g-shared', { extra: ['--shared-root', dir] }))];
    for (const x of w) await x.waitFor((l) => l.msg === 'connected');
    for (const [name, args] of [
      ['mix', ['--mix', 'q4_k_m', '--calibration', calib]],
      ['gptq', ['--method', 'gptq', '--gptq-format', 'q4_k', '--calibration', calib]],
    ] as const) {
      const local = join(dir, `g-${name}-local.parquet`);
      const l = await runCli(['quantize', gmodel, '-o', local, '--min-accuracy', '0', ...args, '-q']);
      assert.equal(l.code, 0, l.stderr);
      const out = join(dir, `g-${name}-cluster.parquet`);
      await clientResult(track(submit(o, c.port, gmodel, out, ['--min-accuracy', '0', ...args])));
      assert.equal(sha256(out), sha256(local), `${name}: cluster and local files differ`);
    }
    for (const name of ['g-value', 'g-shared']) assert.ok(c.lines.some((l) => l.msg === 'chunk committed' && l.worker === name), `${name} ran no chunk`);
  });

  test('SIGKILL of a worker mid-job: its chunks are re-queued and the file is the same', async () => {
    const o = cluster();
    const c = track(await startCoordinator(o));
    await c.waitFor((l) => l.msg === 'serving');
    const victim = track(startWorker(o, c.port, 'victim', { failpoints: 'delay-chunk-ms=60' }));
    const survivor = track(startWorker(o, c.port, 'survivor', { failpoints: 'delay-chunk-ms=60' }));
    await victim.waitFor((l) => l.msg === 'connected');
    await survivor.waitFor((l) => l.msg === 'connected');
    const out = join(dir, 'kill-worker.parquet');
    const client = track(submit(o, c.port, model, out));
    await c.waitFor((l) => l.msg === 'chunk committed' && l.worker === 'victim');
    await victim.kill('SIGKILL');
    const left = await c.waitFor((l) => l.msg === 'worker left' && l.worker === 'victim');
    await clientResult(client);
    assert.equal(sha256(out), localHash);
    assert.ok(typeof left.requeued === 'number');
    const done = await c.waitFor(jobDone);
    assert.ok((done.committed as number) > 0);
  });

  test('a hung worker (SIGSTOP): its etcd lease expires and its chunks are re-queued', async () => {
    const o = cluster();
    const c = track(await startCoordinator(o, { extra: ['--lease-ttl', '3', '--steal-after-ms', '600000'] }));
    await c.waitFor((l) => l.msg === 'serving');
    const hung = track(startWorker(o, c.port, 'hung', { failpoints: 'delay-chunk-ms=100' }));
    const fine = track(startWorker(o, c.port, 'fine', { failpoints: 'delay-chunk-ms=100' }));
    await hung.waitFor((l) => l.msg === 'connected');
    await fine.waitFor((l) => l.msg === 'connected');
    const out = join(dir, 'hung.parquet');
    const client = track(submit(o, c.port, model, out));
    await c.waitFor((l) => l.msg === 'chunk committed' && l.worker === 'hung');
    hung.child.kill('SIGSTOP');
    try {
      // No stream error (the process is alive, its socket open): only the lease can tell.
      const left = await c.waitFor((l) => l.msg === 'worker left' && l.worker === 'hung', 20_000);
      assert.match(String(left.reason), /lease/);
      await clientResult(client);
      assert.equal(sha256(out), localHash);
    } finally {
      hung.child.kill('SIGCONT');
    }
  });

  test('a corrupted result is detected by its checksum and the chunk recomputed', async () => {
    const o = cluster();
    const c = track(await startCoordinator(o));
    await c.waitFor((l) => l.msg === 'serving');
    const w = track(startWorker(o, c.port, 'corrupter', { failpoints: 'corrupt-result=2' }));
    await w.waitFor((l) => l.msg === 'connected');
    const out = join(dir, 'corrupt.parquet');
    await clientResult(track(submit(o, c.port, model, out)));
    assert.equal(sha256(out), localHash);
    const done = await c.waitFor(jobDone);
    assert.equal(done.checksumFailures, 2);
    assert.equal(c.count('checksum mismatch; recomputing the chunk'), 2);
  });

  test('a slow worker\'s chunks are stolen; a worker joining mid-job gets work', async () => {
    const o = cluster();
    const c = track(await startCoordinator(o, { extra: ['--steal-after-ms', '400'] }));
    await c.waitFor((l) => l.msg === 'serving');
    const slow = track(startWorker(o, c.port, 'slow', { failpoints: 'delay-chunk-ms=8000' }));
    await slow.waitFor((l) => l.msg === 'connected');
    const out = join(dir, 'steal.parquet');
    const started = Date.now();
    const client = track(submit(o, c.port, model, out));
    await c.waitFor((l) => l.msg === 'job started');
    const late = track(startWorker(o, c.port, 'late'));
    await clientResult(client);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(sha256(out), localHash);
    const done = await c.waitFor(jobDone);
    assert.ok((done.stolen as number) >= 1, 'the slow worker\'s chunks were stolen');
    // The slow worker holds 2 chunks of 8 s each; without stealing the job would take ≥ 8 s.
    assert.ok(seconds < 8, `job took ${seconds} s`);
    assert.ok(c.lines.some((l) => l.msg === 'chunk committed' && l.worker === 'late'), 'the late worker committed chunks');
    assert.ok(c.lines.some((l) => l.msg === 'stealing a slow chunk' && l.to === 'late'));
  });

  test('SIGKILL of the coordinator mid-job: a restarted coordinator resumes from etcd and the spool', async () => {
    const o = cluster();
    const spool = join(dir, 'spool-restart');
    const first = track(await startCoordinator(o, { spool, name: 'first' }));
    await first.waitFor((l) => l.msg === 'serving');
    const workers = [track(startWorker(o, first.port, 'r1', { failpoints: 'delay-chunk-ms=80' })), track(startWorker(o, first.port, 'r2', { failpoints: 'delay-chunk-ms=80' }))];
    for (const w of workers) await w.waitFor((l) => l.msg === 'connected');
    const out = join(dir, 'restart.parquet');
    const client = track(submit(o, first.port, model, out));
    // Let a dozen chunks commit, then kill the coordinator without warning.
    await first.waitFor(() => first.count('chunk committed') >= 12, 30_000, '12 commits');
    await first.kill('SIGKILL');
    const committedBefore = first.count('chunk committed');
    assert.equal(existsSync(out), false, 'no output before the job finished');
    // Same address: the workers and the client redial it. The old leader's election lease
    // expires first (its TTL), then the new one leads and resumes the job.
    const second = track(await startCoordinator(o, { spool, name: 'second', port: first.port }));
    const resumed = await second.waitFor((l) => l.msg === 'job resumed', 30_000);
    assert.ok((resumed.committed as number) >= committedBefore - 1, `resumed with ${String(resumed.committed)} committed chunks of ${committedBefore}`);
    await clientResult(client);
    assert.equal(sha256(out), localHash);
    const done = await second.waitFor(jobDone);
    assert.equal(done.restored, resumed.committed, 'every committed chunk came back from the spool, none recomputed');
    assert.ok((done.dispatched as number) < 54, 'only the uncommitted chunks were dispatched again');
    assert.ok(client.lines.some((l) => l.event === 'reconnect') || client.stderr.includes('re-attaching'));
  });

  test('SIGTERM of the coordinator mid-job: it stops at once, clients re-attach to the next one; duplicate submits share one run; changed sources are not resumed', async () => {
    const o = cluster();
    const spool = join(dir, 'spool-drain');
    const mutable = join(dir, 'model-drain');
    cpSync(model, mutable, { recursive: true });
    const first = track(await startCoordinator(o, { spool, name: 'drain-1' }));
    await first.waitFor((l) => l.msg === 'serving');
    const worker = track(startWorker(o, first.port, 'd1', { failpoints: 'delay-chunk-ms=150' }));
    await worker.waitFor((l) => l.msg === 'connected');
    const out = join(dir, 'drain-coordinator.parquet');
    const clients = [track(submit(o, first.port, mutable, out)), track(submit(o, first.port, mutable, out))];
    await first.waitFor(() => first.count('chunk committed') >= 4, 30_000, '4 commits');
    assert.equal(first.count('job started'), 1, 'two submits of one job share one run');
    assert.equal(first.count('client attached to a running job'), 1);
    worker.child.kill('SIGSTOP'); // chunks now wait for a worker that will not answer
    const t0 = Date.now();
    const exit = await first.kill('SIGTERM');
    worker.child.kill('SIGCONT');
    assert.equal(exit.code, 0, first.stderr.slice(-2000));
    assert.ok(Date.now() - t0 < 15_000, `the coordinator took ${Date.now() - t0} ms to stop`);
    assert.ok(first.lines.some((l) => l.msg === 'job interrupted; left for the next leader'));
    for (const c of clients) assert.equal(c.child.exitCode, null, 'an interrupted job does not end its clients');
    // The model changes while no coordinator runs: its committed chunks must not be reused.
    rmSync(mutable, { recursive: true, force: true });
    await synth('dit', 'diffusers', mutable, 'small', 8);
    const changedLocal = join(dir, 'drain-local.parquet');
    const local = await runCli(['quantize', mutable, '-o', changedLocal, '--profile', 'local', '-q']);
    assert.equal(local.code, 0, local.stderr);
    const second = track(await startCoordinator(o, { spool, name: 'drain-2', port: first.port }));
    await second.waitFor((l) => l.msg === 'sources changed since the checkpoint; recomputing every chunk', 30_000);
    for (const c of clients) await clientResult(c);
    assert.equal(sha256(out), sha256(changedLocal));
    assert.notEqual(sha256(out), localHash);
    const done = await second.waitFor(jobDone);
    assert.equal(done.restored, 0);
  });

  test('a standby coordinator takes over when the leader dies and finishes its job from the shared spool', async () => {
    const o = cluster();
    const spool = join(dir, 'spool-failover');
    const [healthA, healthB] = [await freePort(), await freePort()];
    const leader = track(await startCoordinator(o, { spool, name: 'leader', extra: ['--health-listen', `127.0.0.1:${healthA}`] }));
    await leader.waitFor((l) => l.msg === 'serving');
    const standby = track(await startCoordinator(o, { spool, name: 'standby', extra: ['--health-listen', `127.0.0.1:${healthB}`] }));
    await standby.waitFor((l) => l.msg === 'campaigning for leadership');
    assert.equal(await healthStatus(`127.0.0.1:${healthA}`), 'SERVING');
    assert.equal(await healthStatus(`127.0.0.1:${healthB}`), 'NOT_SERVING');
    assert.equal(standby.count('serving'), 0, 'the standby does not serve while the leader lives');
    // Workers find the leader through etcd (and redial whoever leads next).
    const etcdArgs = ['--etcd', etcd.url, '--etcd-prefix', o.prefix];
    const workers = ['f1', 'f2'].map((n) => track(startWorker(o, leader.port, n, { extra: etcdArgs, failpoints: 'delay-chunk-ms=80' })));
    for (const w of workers) await w.waitFor((l) => l.msg === 'connected');
    const out = join(dir, 'failover.parquet');
    const client = track(submit(o, leader.port, model, out, ['--verbose']));
    await leader.waitFor(() => leader.count('chunk committed') >= 10, 30_000, '10 commits');
    await leader.kill('SIGKILL');
    await standby.waitFor((l) => l.msg === 'elected leader', 30_000);
    const resumed = await standby.waitFor((l) => l.msg === 'job resumed', 30_000);
    assert.ok((resumed.committed as number) >= 9);
    const done = await standby.waitFor(jobDone, 60_000);
    assert.equal(done.restored, resumed.committed);
    assert.equal(sha256(out), localHash);
    assert.equal(await healthStatus(`127.0.0.1:${healthB}`), 'SERVING');
    for (const w of workers) assert.ok(w.lines.some((l) => l.msg === 'connected' && l.coordinatorId === 'standby'), 'workers followed the new leader');
    await client.kill('SIGKILL'); // it was following the dead leader's address
  });

  test('a worker with a certificate from another CA, or none, is rejected', async () => {
    const o = cluster();
    const c = track(await startCoordinator(o));
    await c.waitFor((l) => l.msg === 'serving');
    const rogue = makeCerts(dir, 'rogue-certs');
    const bad = track(startWorker(o, c.port, 'rogue', { certs: rogue }));
    await bad.waitFor((l) => l.msg === 'coordinator unreachable', 20_000);
    assert.equal(bad.count('connected'), 0);
    assert.equal(c.count('worker joined'), 0);
    // No certificate at all (a raw gRPC client trusting the CA), and plaintext.
    for (const creds of [grpc.credentials.createSsl(Buffer.from(await (await import('node:fs/promises')).readFile(join(certs, 'ca.pem')))), grpc.credentials.createInsecure()]) {
      const client = new CoordinatorClient(`127.0.0.1:${c.port}`, creds, CHANNEL_OPTIONS);
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        const call = (client as unknown as { Submit(r: object): grpc.ClientReadableStream<unknown> }).Submit({ jobId: 'x', modelPath: model, outputPath: join(dir, 'never.parquet'), configJson: '{}' });
        call.on('data', () => {});
        call.on('error', resolve);
      });
      client.close();
      assert.equal(err.code, grpc.status.UNAVAILABLE, err.message);
    }
    // A valid worker certificate may serve work but not submit jobs (a job names paths the
    // coordinator reads and writes); a client certificate must still send a well-formed job id.
    const submitAs = async (who: 'worker' | 'client', jobId: string, configJson = '{}') => {
      const [cert, key, ca] = await Promise.all(['worker', 'client'].includes(who) ? [`${who}.pem`, `${who}-key.pem`, 'ca.pem'].map((f) => (import('node:fs/promises')).then((fs) => fs.readFile(join(certs, f)))) : []);
      const client = new CoordinatorClient(`127.0.0.1:${c.port}`, grpc.credentials.createSsl(ca!, key!, cert!), CHANNEL_OPTIONS);
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        const call = (client as unknown as { Submit(r: object): grpc.ClientReadableStream<unknown> }).Submit({ jobId, modelPath: model, outputPath: join(dir, 'never.parquet'), configJson });
        call.on('data', () => {});
        call.on('error', resolve);
      });
      client.close();
      return err;
    };
    const asWorker = await submitAs('worker', 'a'.repeat(24));
    assert.equal(asWorker.code, grpc.status.PERMISSION_DENIED, asWorker.message);
    assert.match(asWorker.details, /CN=arrowquant-worker may not submit jobs/);
    const badId = await submitAs('client', '../../etc');
    assert.equal(badId.code, grpc.status.INVALID_ARGUMENT, badId.message);
    // Another job's id with this request's paths and config, and a config the coordinator
    // cannot accept: refused, and the coordinator lives on.
    const foreignId = await submitAs('client', 'a'.repeat(24));
    assert.equal(foreignId.code, grpc.status.INVALID_ARGUMENT, foreignId.message);
    assert.match(foreignId.details, /not the id of this model, output and configuration/);
    const badConfig = await submitAs('client', 'b'.repeat(24), JSON.stringify({ bit_width: 3 }));
    assert.equal(badConfig.code, grpc.status.INVALID_ARGUMENT, badConfig.message);
    assert.match(badConfig.details, /config_json: .*bit_width/);
    // A client's certificate may submit but not serve as a worker.
    const asClient = join(dir, 'client-as-worker');
    mkdirSync(asClient, { recursive: true });
    for (const [from, to] of [['client.pem', 'worker.pem'], ['client-key.pem', 'worker-key.pem'], ['ca.pem', 'ca.pem']] as const) copyFileSync(join(certs, from), join(asClient, to));
    const impostor = track(startWorker(o, c.port, 'impostor', { certs: asClient }));
    const refusal = await impostor.waitFor((l) => l.msg === 'coordinator unreachable', 20_000);
    assert.match(String(refusal.error), /CN=arrowquant-client may not serve as a worker/);
    assert.equal(c.count('worker joined'), 0);
    await impostor.kill('SIGTERM');
    assert.equal(c.child.exitCode, null, 'the coordinator survived every bad request');
    assert.equal(existsSync(join(dir, 'never.parquet')), false);
    assert.equal(c.count('job submitted'), 0);
    await bad.kill('SIGTERM');
  });

  test('bad input through the cluster: the client exits 1 with the local run\'s message, no output is left', async () => {
    const o = cluster();
    const c = track(await startCoordinator(o));
    await c.waitFor((l) => l.msg === 'serving');
    const missing = track(submit(o, c.port, join(dir, 'no-such-model'), join(dir, 'nothing.parquet')));
    assert.equal((await missing.exited).code, 1);
    assert.match(missing.stderr, /no-such-model: cannot open the model/);
    const clobber = track(submit(o, c.port, model, join(model, 'transformer', 'diffusion_pytorch_model.safetensors')));
    assert.equal((await clobber.exited).code, 1);
    assert.match(clobber.stderr, /is one of the model's input files/);
    assert.equal(existsSync(join(dir, 'nothing.parquet')), false);
    assert.ok(c.lines.some((l) => l.msg === 'job failed'));
    // A coordinator that is not there: a clear error, quickly.
    const t0 = Date.now();
    const nobody = track(submit(o, 1, model, join(dir, 'nothing.parquet')));
    assert.equal((await nobody.exited).code, 1);
    assert.match(nobody.stderr, /coordinator 127\.0\.0\.1:1/);
    assert.ok(Date.now() - t0 < 30_000);
  });

  test('etcd over TLS with client certificates', async () => {
    const secureEtcd = await Etcd.start({ certs });
    try {
      const o = { ...cluster(), etcd: secureEtcd };
      const etcdTls = ['--etcd-ca', join(certs, 'ca.pem'), '--etcd-cert', join(certs, 'coordinator.pem'), '--etcd-key', join(certs, 'coordinator-key.pem')];
      const c = track(await startCoordinator(o, { extra: etcdTls }));
      await c.waitFor((l) => l.msg === 'serving');
      const w = track(startWorker(o, c.port, 'tls-etcd'));
      await w.waitFor((l) => l.msg === 'connected');
      const out = join(dir, 'etcd-tls.parquet');
      await clientResult(track(submit(o, c.port, model, out)));
      assert.equal(sha256(out), localHash);
      // Without a client certificate etcd refuses the coordinator: it never leads.
      const refused = track(await startCoordinator({ ...o, prefix: '/aq-refused/' }, { extra: ['--etcd-ca', join(certs, 'ca.pem')], name: 'refused' }));
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(refused.count('serving'), 0);
      await refused.kill('SIGKILL');
    } finally {
      await secureEtcd.stop();
    }
  });

  test('TLS is the default: a worker without certificates or --insecure is a usage error', async () => {
    const r = await runCli(['worker', '--coordinator', '127.0.0.1:1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--tls-cert, --tls-key and --tls-ca.*--insecure/s);
    const mixed = await runCli(['worker', '--coordinator', '127.0.0.1:1', '--insecure', ...tlsArgs(certs, 'worker')]);
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /--insecure cannot be combined/);
  });

  test('SIGTERM drains a worker: it finishes what it runs, returns the rest, and the job completes elsewhere', async () => {
    const o = cluster();
    const c = track(await startCoordinator(o));
    await c.waitFor((l) => l.msg === 'serving');
    const leaving = track(startWorker(o, c.port, 'leaving', { failpoints: 'delay-chunk-ms=150' }));
    const staying = track(startWorker(o, c.port, 'staying'));
    await leaving.waitFor((l) => l.msg === 'connected');
    await staying.waitFor((l) => l.msg === 'connected');
    const out = join(dir, 'drain.parquet');
    const client = track(submit(o, c.port, model, out));
    await c.waitFor((l) => l.msg === 'chunk committed' && l.worker === 'leaving');
    const exit = await leaving.kill('SIGTERM');
    assert.equal(exit.code, 0, leaving.stderr);
    assert.ok(leaving.lines.some((l) => l.msg === 'draining'));
    await c.waitFor((l) => l.msg === 'worker draining' && l.worker === 'leaving');
    await clientResult(client);
    assert.equal(sha256(out), localHash);
  });
});
