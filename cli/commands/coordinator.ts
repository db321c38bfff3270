/** `arrowquant coordinator`: serve workers and clients; leader-elected through etcd. */
import { resolve } from 'node:path';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';

import { Command } from 'commander';

import { serviceLogger } from '../../common/cluster/log.js';
import { Coordinator } from '../../coordinator/cluster/server.js';
import { addEtcdFlags, addTlsFlags, etcdFrom, exitSoon, onShutdownSignals, tlsFrom, type EtcdCliFlags, type TlsCliFlags } from './cluster-flags.js';
import { parseCount } from './numbers.js';

interface CoordinatorFlags extends TlsCliFlags, EtcdCliFlags {
  listen: string;
  advertise?: string;
  spool: string;
  name?: string;
  healthListen?: string;
  inFlight: string;
  stealAfterMs: string;
  leaseTtl: string;
  clientCn: string;
  workerCn: string;
}

const names = (list: string) => list.split(',').map((n) => n.trim()).filter(Boolean);

export function coordinatorCommand(): Command {
  const cmd = new Command('coordinator')
    .summary('run the cluster coordinator (workers dial it; clients submit jobs to it)')
    .description(
      'Serve the ArrowQuant cluster: plan submitted jobs with the local planner, shard their chunks over the\n' +
        'connected workers, commit each checked result once (spool + etcd), and write the same Parquet file a\n' +
        'local run writes. Several coordinators may run: etcd elects one leader; the others wait and take over,\n' +
        'resuming unfinished jobs from etcd and the spool. Logs are JSON lines on stdout. SIGTERM drains.',
    )
    .requiredOption('--listen <host:port>', 'address for workers and clients (port 0: any free port)')
    .option('--advertise <host:port>', 'address workers should dial, published in etcd (default: --listen)')
    .option('--spool <dir>', 'directory for committed chunk results (survives restarts)', './arrowquant-spool')
    .option('--name <id>', 'this coordinator\'s id in logs and etcd')
    .option('--health-listen <host:port>', 'plaintext listener serving only grpc.health.v1 (Kubernetes probes)')
    .option('--in-flight <n>', 'chunks in flight across the fleet', '16')
    .option('--steal-after-ms <ms>', 'minimum run time before an idle worker takes a backup copy of a chunk', '2000')
    .option('--lease-ttl <s>', 'worker membership lease in etcd, seconds', '5')
    .option('--client-cn <names>', 'certificate common names allowed to submit jobs, comma-separated (a worker\'s certificate may not)', 'arrowquant-client')
    .option('--worker-cn <names>', 'certificate common names allowed to serve as workers, comma-separated', 'arrowquant-worker');
  addEtcdFlags(cmd, true);
  addTlsFlags(cmd);
  return cmd
    .addHelpText('after', '\nExample:\n  arrowquant coordinator --listen 0.0.0.0:7070 --etcd http://etcd:2379 --tls-cert coordinator.pem --tls-key coordinator-key.pem --tls-ca ca.pem --spool /var/lib/arrowquant/spool')
    .action(async (flags: CoordinatorFlags) => {
      const tls = tlsFrom(flags);
      const id = flags.name ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
      const log = serviceLogger('coordinator', id);
      const coordinator = new Coordinator(
        {
          listen: flags.listen,
          ...(flags.advertise ? { advertise: flags.advertise } : {}),
          etcd: etcdFrom(flags)!,
          tls,
          spool: resolve(flags.spool),
          id,
          ...(flags.healthListen ? { healthListen: flags.healthListen } : {}),
          inFlight: parseCount('--in-flight', flags.inFlight),
          stealAfterMs: parseCount('--steal-after-ms', flags.stealAfterMs),
          leaseTtlSeconds: parseCount('--lease-ttl', flags.leaseTtl),
          clientNames: names(flags.clientCn),
          workerNames: names(flags.workerCn),
        },
        log,
      );
      onShutdownSignals((signal) => coordinator.stop(`received ${signal}`));
      await coordinator.start();
      await coordinator.done;
      exitSoon();
    });
}
