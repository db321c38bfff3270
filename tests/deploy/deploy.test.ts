/**
 * deploy/ without Docker or Kubernetes: the manifests, unit and Dockerfile pass
 * scripts/validate-deploy.sh (schema validation from PyPI's kubernetes-validate, systemd-analyze),
 * and the exact commands the containers and the systemd unit run, with cluster addresses and
 * mounted paths mapped to loopback and temporary directories, form a working cluster whose
 * output equals the local run's.
 */
import { beforeAll, afterAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

import { CLI, DIST, runCli, sha256, synth, tempDir } from '../helpers/cli.js';
import { Etcd, Service, freePort, makeCerts, tlsArgs } from '../helpers/cluster.js';

const ROOT = join(DIST, '..');
const K8S = join(ROOT, 'deploy', 'k8s');

interface Container {
  name: string;
  args?: string[];
}

function containerArgs(file: string, kind: string): string[] {
  for (const doc of parseAllDocuments(readFileSync(join(K8S, file), 'utf8'))) {
    const o = doc.toJS() as { kind: string; spec: { template: { spec: { containers: Container[] } } } };
    if (o.kind === kind) return o.spec.template.spec.containers[0]!.args!;
  }
  throw new Error(`${file}: no ${kind}`);
}

function substitute(args: string[], map: Record<string, string>): string[] {
  return args.map((a) => {
    let out = a;
    for (const [from, to] of Object.entries(map)) out = out.split(from).join(to);
    return out;
  });
}

let etcd: Etcd;
let dir: string;
let certs: string;
const services: Service[] = [];

function start(name: string, args: string[]): Service {
  const s = new Service(name, spawn(process.execPath, ['--no-deprecation', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  services.push(s);
  return s;
}

beforeAll(async () => {
  dir = tempDir('deploy');
  etcd = await Etcd.start();
  certs = makeCerts(dir);
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.kill('SIGKILL')));
  await etcd?.stop();
});

test('scripts/validate-deploy.sh: manifests, kustomization, systemd unit and Dockerfile are valid', () => {
  const out = execFileSync('bash', [join(ROOT, 'scripts', 'validate-deploy.sh')], { encoding: 'utf8', cwd: ROOT });
  assert.match(out, /Kubernetes manifests[\s\S]*ok: \d+ files/);
  assert.equal((out.match(/^ok/gm) ?? []).length, 4, out);
});

test('the containers\' and the systemd unit\'s commands run a cluster that writes the local run\'s bytes', async () => {
  const models = join(dir, 'models');
  const model = join(models, 'dit');
  await synth('dit', 'diffusers', model, 'tiny', 3);
  const local = await runCli(['quantize', model, '-o', join(dir, 'local.parquet'), '--profile', 'local', '-q']);
  assert.equal(local.code, 0, local.stderr);
  const port = await freePort();
  const common = {
    '0.0.0.0:7070': `127.0.0.1:${port}`,
    'arrowquant-coordinator:7070': `127.0.0.1:${port}`,
    '0.0.0.0:7071': '127.0.0.1:0',
    'http://arrowquant-etcd:2379': etcd.url,
    '/var/lib/arrowquant/spool': join(dir, 'spool'),
    '/models': models,
  };
  const tls = (who: 'coordinator' | 'worker') => ({
    '/etc/arrowquant/tls/tls.crt': join(certs, `${who}.pem`),
    '/etc/arrowquant/tls/tls.key': join(certs, `${who}-key.pem`),
    '/etc/arrowquant/tls/ca.crt': join(certs, 'ca.pem'),
  });
  const coordinator = start('coordinator', substitute(containerArgs('coordinator.yaml', 'StatefulSet'), { ...common, ...tls('coordinator'), '$(POD_NAME)': 'arrowquant-coordinator-0' }));
  await coordinator.waitFor((l) => l.msg === 'serving');
  const worker = start('k8s-worker', substitute(containerArgs('worker.yaml', 'Deployment'), { ...common, ...tls('worker'), '$(POD_NAME)': 'arrowquant-worker-abc' }));
  // The Job's worker waits 60 s for more work before it exits; 3 s here.
  const jobArgs = substitute(containerArgs('optional/worker-indexed-job.yaml', 'Job'), { ...common, ...tls('worker'), '$(JOB_COMPLETION_INDEX)': '0' });
  jobArgs[jobArgs.indexOf('--exit-when-idle') + 1] = '3';
  const jobWorker = start('job-worker', jobArgs);

  // systemd: ExecStart with the env file's variables, %H and the certificate paths mapped.
  const unit = readFileSync(join(ROOT, 'deploy', 'systemd', 'arrowquant-worker.service'), 'utf8');
  const env = Object.fromEntries(
    readFileSync(join(ROOT, 'deploy', 'systemd', 'arrowquant-worker.env'), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  env['ARROWQUANT_COORDINATOR'] = `127.0.0.1:${port}`;
  env['ARROWQUANT_THREADS'] = '1';
  const execStart = unit.split('\n').find((l) => l.startsWith('ExecStart='))!.slice('ExecStart='.length);
  const argv = execStart.replace(/\$\{(\w+)\}/g, (_m, k: string) => env[k] ?? '').replace('%H', 'edge-box').split(/\s+/);
  assert.deepEqual(argv.slice(0, 2), ['/usr/bin/node', '/opt/arrowquant/node_modules/arrowquant/dist/cli/main.js']);
  const edge = start('edge', substitute(argv.slice(2), { '127.0.0.1:7071': '127.0.0.1:0', '/etc/arrowquant/tls/worker.pem': join(certs, 'worker.pem'), '/etc/arrowquant/tls/worker-key.pem': join(certs, 'worker-key.pem'), '/etc/arrowquant/tls/ca.pem': join(certs, 'ca.pem') }));

  for (const w of [worker, jobWorker, edge]) await w.waitFor((l) => l.msg === 'connected');
  const out = join(dir, 'deployed.parquet');
  const client = start('client', ['quantize', model, '-o', out, '--profile', 'local', '--coordinator', `127.0.0.1:${port}`, ...tlsArgs(certs, 'client')]);
  assert.equal((await client.exited).code, 0, client.stderr);
  assert.equal(sha256(out), sha256(join(dir, 'local.parquet')));
  const done = await coordinator.waitFor((l) => l.msg === 'job done');
  assert.ok((done.byReference as number) > 0, 'workers with /models mounted read chunks themselves');
  // The Indexed Job's worker drains and exits 0 once idle, so the Job completes.
  const exit = await jobWorker.exited;
  assert.equal(exit.code, 0, jobWorker.stderr);
  assert.ok(jobWorker.lines.some((l) => l.msg === 'draining' && String(l.reason).startsWith('idle')));
  for (const s of [worker, edge, coordinator]) assert.equal((await s.kill('SIGTERM')).code, 0, s.stderr);
});
