/**
 * Real cluster processes for tests: an etcd server (Debian's etcd 3.4; scripts/setup-etcd.sh
 * installs it) on free loopback ports in a temporary directory, development certificates from
 * scripts/dev-ca.sh, and coordinator/worker CLI processes whose JSON-line logs can be awaited.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type * as grpc from '@grpc/grpc-js';

import { CLI, DIST, tempDir } from './cli.js';

const ROOT = join(DIST, '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export type LogLine = Record<string, unknown> & { msg?: string };

/** A child process whose stdout JSON lines are kept and can be awaited. */
export class Service {
  readonly lines: LogLine[] = [];
  stderr = '';
  private waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly name: string, readonly child: ChildProcess) {
    // Services log JSON lines on stdout; the CLI's job progress goes to stderr: read both.
    const reader = () => {
      let partial = '';
      return (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const text of parts) {
        if (!text.startsWith('{')) continue;
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          continue;
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => (w.pred(line) ? (w.resolve(line), false) : true));
      }
      };
    };
    child.stdout!.on('data', reader());
    const fromStderr = reader();
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      fromStderr(d);
    });
    this.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  }

  /** The first log line (past or future) matching `pred`. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 20_000, what = 'log line'): Promise<LogLine> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}; last lines: ${JSON.stringify(this.lines.slice(-5))}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }

  count(msg: string): number {
    return this.lines.filter((l) => l.msg === msg).length;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/**
 * The CLI as a service process. `node`: the command that runs Node (default this process's
 * binary; the edge tests pass an arm64 Node under qemu), `cli`: the CLI script.
 */
function spawnCli(name: string, args: string[], env: NodeJS.ProcessEnv = {}, node: string[] = [process.execPath], cli = CLI): Service {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ARROW_QUANT_') && k !== 'ARROWQUANT_FAILPOINTS'));
  return new Service(name, spawn(node[0]!, [...node.slice(1), '--no-deprecation', cli, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** GET /health, with a client certificate when etcd requires one. */
function etcdHealthy(url: string, certs?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const opts = certs ? { cert: readFileSync(join(certs, 'client.pem')), key: readFileSync(join(certs, 'client-key.pem')), ca: readFileSync(join(certs, 'ca.pem')) } : {};
    const req = (url.startsWith('https') ? httpsGet : httpGet)(`${url}/health`, opts, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.setTimeout(1000, () => req.destroy());
  });
}

export class Etcd {
  private constructor(readonly url: string, private readonly dir: string, private readonly proc: ChildProcess) {}

  /** `tls`: serve clients over TLS and require client certificates signed by `certs`/ca.pem. */
  static async start(tls?: { certs: string }): Promise<Etcd> {
    const dir = tempDir('etcd');
    const [client, peer] = [await freePort(), await freePort()];
    const url = `${tls ? 'https' : 'http'}://127.0.0.1:${client}`;
    const tlsArgs = tls
      ? ['--cert-file', join(tls.certs, 'coordinator.pem'), '--key-file', join(tls.certs, 'coordinator-key.pem'), '--trusted-ca-file', join(tls.certs, 'ca.pem'), '--client-cert-auth']
      : [];
    const proc = spawn('etcd', ['--data-dir', join(dir, 'data'), '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `default=http://127.0.0.1:${peer}`, ...tlsArgs], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await etcdHealthy(url, tls?.certs)) return new Etcd(url, dir, proc);
      await sleep(100);
    }
    proc.kill('SIGKILL');
    throw new Error('etcd did not become healthy within 10 s (is etcd-server installed? scripts/setup-etcd.sh)');
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.proc.on('close', r));
    this.proc.kill('SIGTERM');
    await exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function makeCerts(dir: string, name = 'certs'): string {
  const out = join(dir, name);
  execFileSync('bash', [join(ROOT, 'scripts', 'dev-ca.sh'), out], { stdio: 'ignore' });
  return out;
}

export function tlsArgs(certs: string, who: 'coordinator' | 'worker' | 'client'): string[] {
  return ['--tls-cert', join(certs, `${who}.pem`), '--tls-key', join(certs, `${who}-key.pem`), '--tls-ca', join(certs, 'ca.pem')];
}

export interface ClusterOptions {
  etcd: Etcd;
  certs: string;
  dir: string;
  /** Distinct per test, so tests share one etcd without seeing each other's leader or jobs. */
  prefix: string;
  /** Plaintext instead of mTLS (benchmarks compare both). */
  insecure?: boolean;
}

function security(o: ClusterOptions, who: 'coordinator' | 'worker' | 'client', certs = o.certs): string[] {
  return o.insecure ? ['--insecure'] : tlsArgs(certs, who);
}

export async function startCoordinator(o: ClusterOptions, opts: { port?: number; extra?: string[]; name?: string; spool?: string } = {}): Promise<Service & { port: number }> {
  const port = opts.port ?? (await freePort());
  const svc = spawnCli(opts.name ?? 'coordinator', ['coordinator', '--listen', `127.0.0.1:${port}`, '--etcd', o.etcd.url, '--etcd-prefix', o.prefix, '--spool', opts.spool ?? join(o.dir, 'spool'), '--name', opts.name ?? 'coordinator', ...security(o, 'coordinator'), ...(opts.extra ?? [])], { ARROW_QUANT_LOG_LEVEL: 'debug' });
  return Object.assign(svc, { port });
}

export function startWorker(o: ClusterOptions, port: number, name: string, opts: { extra?: string[]; failpoints?: string; certs?: string; node?: string[] } = {}): Service {
  return spawnCli(name, ['worker', '--coordinator', `127.0.0.1:${port}`, '--name', name, '--threads', '1', ...security(o, 'worker', opts.certs), ...(opts.extra ?? [])], opts.failpoints ? { ARROWQUANT_FAILPOINTS: opts.failpoints } : {}, opts.node);
}

/** `arrowquant quantize ... --coordinator`; stdout/stderr as the CLI prints them. */
export function submit(o: ClusterOptions, port: number, model: string, output: string, extra: string[] = []): Service {
  return spawnCli('client', ['quantize', model, '-o', output, '--profile', 'local', '--coordinator', `127.0.0.1:${port}`, ...security(o, 'client'), ...extra]);
}

/** grpc.health.v1 Check against a plaintext health listener. */
export async function healthStatus(address: string): Promise<string> {
  const { service } = await import('grpc-health-check');
  const grpcJs = await import('@grpc/grpc-js');
  const Client = grpcJs.makeGenericClientConstructor(service as unknown as grpc.ServiceDefinition, 'Health');
  const client = new Client(address, grpcJs.credentials.createInsecure());
  try {
    return await new Promise<string>((resolve, reject) =>
      (client as unknown as { check(r: object, cb: (e: Error | null, r?: { status: string | number }) => void): void }).check({ service: '' }, (err, res) => (err ? reject(err) : resolve(String(res!.status)))),
    );
  } finally {
    client.close();
  }
}
