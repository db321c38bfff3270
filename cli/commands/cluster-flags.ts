/** Flags the cluster commands share: TLS material and etcd endpoints. */
import { Command, Option } from 'commander';

import { tlsMaterial, type TlsMaterial } from '../../common/cluster/tls.js';
import type { EtcdOptions } from '../../common/cluster/etcd.js';

export interface TlsCliFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  insecure?: boolean;
}

export function addTlsFlags(cmd: Command): Command {
  return cmd
    .option('--tls-cert <file>', 'this peer\'s certificate (PEM), signed by the cluster CA')
    .option('--tls-key <file>', 'its private key (PEM)')
    .option('--tls-ca <file>', 'the cluster CA (PEM); peers must present certificates it signed')
    .option('--insecure', 'plaintext, no authentication (development on loopback only)');
}

export function tlsFrom(flags: TlsCliFlags): TlsMaterial {
  return tlsMaterial({ ...flags });
}

export interface EtcdCliFlags {
  etcd?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdPrefix: string;
}

export function addEtcdFlags(cmd: Command, required: boolean): Command {
  const etcd = new Option('--etcd <urls>', 'etcd endpoints, comma-separated (http://host:2379 or https://...)');
  if (required) etcd.makeOptionMandatory();
  return cmd
    .addOption(etcd)
    .option('--etcd-ca <file>', 'CA for etcd\'s TLS (https endpoints)')
    .option('--etcd-cert <file>', 'client certificate for etcd')
    .option('--etcd-key <file>', 'client key for etcd')
    .option('--etcd-prefix <prefix>', 'key prefix, so several clusters can share one etcd', '/arrowquant/');
}

export function etcdFrom(flags: EtcdCliFlags): EtcdOptions | undefined {
  if (!flags.etcd) return undefined;
  return {
    endpoints: flags.etcd.split(',').map((s) => s.trim()).filter(Boolean),
    namespace: flags.etcdPrefix,
    ...(flags.etcdCa ? { ca: flags.etcdCa } : {}),
    ...(flags.etcdCert ? { cert: flags.etcdCert } : {}),
    ...(flags.etcdKey ? { key: flags.etcdKey } : {}),
  };
}

/** SIGTERM/SIGINT start a graceful drain; a second signal exits at once. */
export function onShutdownSignals(drain: (signal: string) => Promise<void>): void {
  let draining = false;
  const handler = (signal: NodeJS.Signals) => {
    if (draining) process.exit(130);
    draining = true;
    void drain(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * After a service has drained: exit even if a library left a handle open (etcd3's client keeps
 * timers after close()). Late enough for the caller's telemetry flush to finish first.
 */
export function exitSoon(ms = 1000): void {
  setTimeout(() => process.exit(process.exitCode ?? 0), ms).unref();
}
