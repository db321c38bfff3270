/** `arrowquant worker`: dial the coordinator and quantize the chunks it assigns. */
import { availableParallelism, hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { Command, Option } from 'commander';

import { serviceLogger } from '../../common/cluster/log.js';
import { ConfigurationError } from '../../common/config/index.js';
import { Worker } from '../../worker/cluster/worker.js';
import { addEtcdFlags, addTlsFlags, etcdFrom, exitSoon, onShutdownSignals, tlsFrom, type EtcdCliFlags, type TlsCliFlags } from './cluster-flags.js';
import { parseCount } from './numbers.js';

interface WorkerFlags extends TlsCliFlags, EtcdCliFlags {
  coordinator?: string;
  threads?: string;
  mode: 'streaming' | 'threaded';
  name?: string;
  healthListen?: string;
  sharedRoot?: string;
  exitWhenIdle?: string;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function workerCommand(): Command {
  const cmd = new Command('worker')
    .summary('run a worker: dial the coordinator and quantize the chunks it assigns')
    .description(
      'Dial the coordinator (or the leader etcd names), announce this machine (arch, SIMD, threads, memory,\n' +
        'mode) and quantize the chunks it assigns with the local kernels. With --shared-root the worker reads\n' +
        'model files under that directory itself and gets chunks by reference. Reconnects when the stream\n' +
        'breaks. Logs are JSON lines on stdout. SIGTERM drains: returns queued chunks, finishes running ones.',
    )
    .option('--coordinator <host:port>', 'the coordinator to dial (or the fallback when etcd names no leader)')
    .option('--threads <n>', 'kernel threads (default: all cores)')
    .addOption(new Option('--mode <mode>', 'streaming: one chunk at a time over all threads; threaded: one chunk per thread').choices(['streaming', 'threaded']).default('threaded'))
    .option('--name <id>', 'worker id (default: hostname + random suffix)')
    .option('--health-listen <host:port>', 'plaintext listener serving only grpc.health.v1 (Kubernetes probes)')
    .option('--shared-root <dir>', 'model files under this directory are readable here at the same path')
    .option('--exit-when-idle <seconds>', 'drain and exit 0 after this long without work (batch runs, e.g. a Kubernetes Indexed Job)');
  addEtcdFlags(cmd, false);
  addTlsFlags(cmd);
  return cmd
    .addHelpText('after', '\nExample:\n  arrowquant worker --coordinator coord.example:7070 --tls-cert worker.pem --tls-key worker-key.pem --tls-ca ca.pem --mode streaming')
    .action(async (flags: WorkerFlags) => {
      const tls = tlsFrom(flags);
      const etcd = etcdFrom(flags);
      if (!flags.coordinator && !etcd) throw new ConfigurationError('give --coordinator HOST:PORT, or --etcd to find the leader', 'coordinator', undefined, { kind: 'cli', flag: '--coordinator' });
      const threads = flags.threads === undefined ? availableParallelism() : parseCount('--threads', flags.threads);
      const id = flags.name ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
      const worker = new Worker(
        {
          ...(flags.coordinator ? { coordinator: flags.coordinator } : {}),
          ...(etcd ? { etcd } : {}),
          tls,
          threads,
          mode: flags.mode,
          id,
          ...(flags.healthListen ? { healthListen: flags.healthListen } : {}),
          ...(flags.sharedRoot ? { sharedRoot: resolve(flags.sharedRoot) } : {}),
          version: packageVersion(),
          ...(flags.exitWhenIdle !== undefined ? { exitWhenIdleSeconds: parseCount('--exit-when-idle', flags.exitWhenIdle) } : {}),
        },
        serviceLogger('worker', id),
      );
      onShutdownSignals((signal) => worker.stop(`received ${signal}`));
      await worker.start();
      await worker.done;
      exitSoon();
    });
}
