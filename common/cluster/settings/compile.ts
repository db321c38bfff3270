/**
 * Resolved settings → what the services take: rules that span settings (what is required, TLS
 * files or `insecure`), files read (TLS material), paths made absolute, and the defaults that
 * depend on the machine (the id, the worker's threads). Errors name the settings as the user
 * wrote them; the services themselves never see a flag.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

import type { ConfigSource } from '../../config/errors.js';
import { packageVersion } from '../../version.js';
import type { EtcdOptions } from '../etcd.js';
import { serviceId } from '../service-id.js';
import type { TlsMaterial } from '../tls.js';
import { ConflictingClusterSettings, InvalidClusterSetting, MissingClusterSetting } from './errors.js';
import { CLIENT_SETTINGS, COORDINATOR_SETTINGS, WORKER_SETTINGS, type SettingsOf } from './keys.js';
import { envVariable, resolveSettings, type SettingsInput } from './resolve.js';

export interface CoordinatorOptions {
  id: string;
  listen: string;
  /** The address workers dial (published as the election value). */
  advertise: string;
  etcd: EtcdOptions;
  tls: TlsMaterial;
  spool: string;
  healthListen?: string;
  leaseTtlSeconds: number;
  heartbeatMs: number;
  /** Chunks in flight across the fleet. */
  inFlight: number;
  stealAfterMs: number;
  maxFailures: number;
  /**
   * Certificate common names allowed to submit jobs. A job names paths the coordinator reads and
   * writes, so a worker's certificate (an edge box is the easiest machine to lose) must not be enough.
   */
  clientNames: string[];
  /** Certificate common names allowed to serve as workers. */
  workerNames: string[];
}

export interface WorkerOptions {
  id: string;
  coordinator?: string;
  etcd?: EtcdOptions;
  tls: TlsMaterial;
  threads: number;
  mode: 'streaming' | 'threaded';
  healthListen?: string;
  /** Absolute. */
  sharedRoot?: string;
  /** This build's version, announced in Hello. */
  version: string;
  /** Exit after this many seconds without work (batch runs: a Kubernetes Indexed Job). */
  exitWhenIdleSeconds?: number;
}

/** What the TLS rule reads of any service's resolution. */
interface Resolved {
  values: Record<string, unknown>;
  sources: Partial<Record<string, ConfigSource>>;
  spell(key: string): string;
}

function readPem(r: Resolved, key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new InvalidClusterSetting(key, path, r.sources[key] ?? { kind: 'default' }, `cannot read it: ${(cause as Error).message}`, { cause });
  }
}

/** All three files, or `insecure`, never a silent mix. `envHint`: how the environment can give them. */
function tlsOf(r: Resolved, envHint?: string): TlsMaterial {
  const v = r.values;
  const files = (['tls_cert', 'tls_key', 'tls_ca'] as const).filter((k) => v[k] !== undefined);
  if (v['insecure'] === true) {
    if (files.length > 0) throw new ConflictingClusterSettings(['insecure', ...files], r.sources.insecure ?? { kind: 'default' }, `${r.spell('insecure')} cannot be combined with ${files.map((k) => r.spell(k)).join('/')}`);
    return { insecure: true };
  }
  if (files.length !== 3) {
    const names = ['tls_cert', 'tls_key', 'tls_ca'].map((k) => r.spell(k));
    throw new MissingClusterSetting(['tls_cert', 'tls_key', 'tls_ca'], `TLS with client certificates is the default: give ${names[0]}, ${names[1]} and ${names[2]} (${envHint ? `or ${envHint}; ` : ''}scripts/dev-ca.sh makes a development set), or ${r.spell('insecure')} for plaintext`);
  }
  const pem = (k: string) => readPem(r, k, String(v[k]));
  return { insecure: false, cert: pem('tls_cert'), key: pem('tls_key'), ca: pem('tls_ca') };
}

function etcdOf(v: SettingsOf<typeof WORKER_SETTINGS> | SettingsOf<typeof COORDINATOR_SETTINGS>): EtcdOptions | undefined {
  if (!v.etcd) return undefined;
  return { endpoints: v.etcd, namespace: v.etcd_prefix!, ...(v.etcd_ca ? { ca: v.etcd_ca } : {}), ...(v.etcd_cert ? { cert: v.etcd_cert } : {}), ...(v.etcd_key ? { key: v.etcd_key } : {}) };
}

export interface Compiled<O> {
  options: O;
  warnings: string[];
}

export function coordinatorOptions(input: SettingsInput): Compiled<CoordinatorOptions> {
  const r = resolveSettings(COORDINATOR_SETTINGS, 'coordinator', input);
  const v = r.values;
  const missing = (['listen', 'etcd'] as const).filter((k) => v[k] === undefined);
  if (missing.length > 0) throw new MissingClusterSetting(missing, `the coordinator needs ${missing.map((k) => r.spell(k)).join(' and ')} (or ${missing.map((k) => envVariable('coordinator', k)).join(', ')})`);
  const listen = v.listen!;
  const options: CoordinatorOptions = {
    id: v.name ?? serviceId(),
    listen,
    advertise: v.advertise ?? listen,
    etcd: etcdOf(v)!,
    tls: tlsOf(r, envVariable('coordinator', 'tls_*')),
    spool: resolve(v.spool!),
    ...(v.health_listen ? { healthListen: v.health_listen } : {}),
    leaseTtlSeconds: v.lease_ttl!,
    heartbeatMs: v.heartbeat_ms!,
    inFlight: v.in_flight!,
    stealAfterMs: v.steal_after_ms!,
    maxFailures: v.max_failures!,
    clientNames: v.client_cn!,
    workerNames: v.worker_cn!,
  };
  return { options, warnings: r.warnings };
}

export function workerOptions(input: SettingsInput): Compiled<WorkerOptions> {
  const r = resolveSettings(WORKER_SETTINGS, 'worker', input);
  const v = r.values;
  if (v.coordinator === undefined && v.etcd === undefined) {
    throw new MissingClusterSetting(['coordinator', 'etcd'], `give ${r.spell('coordinator')} HOST:PORT, or ${r.spell('etcd')} to find the leader (or ${envVariable('worker', 'coordinator')} / ${envVariable('worker', 'etcd')})`);
  }
  const etcd = etcdOf(v);
  const options: WorkerOptions = {
    id: v.name ?? serviceId(),
    ...(v.coordinator ? { coordinator: v.coordinator } : {}),
    ...(etcd ? { etcd } : {}),
    tls: tlsOf(r, envVariable('worker', 'tls_*')),
    threads: v.threads ?? availableParallelism(),
    mode: v.mode!,
    ...(v.health_listen ? { healthListen: v.health_listen } : {}),
    ...(v.shared_root ? { sharedRoot: resolve(v.shared_root) } : {}),
    version: packageVersion(),
    ...(v.exit_when_idle !== undefined ? { exitWhenIdleSeconds: v.exit_when_idle } : {}),
  };
  return { options, warnings: r.warnings };
}

/** The client's TLS (`quantize --coordinator`): flags only. */
export function clientTls(flags: Record<string, unknown>): TlsMaterial {
  return tlsOf(resolveSettings(CLIENT_SETTINGS, 'client', { flags, env: {} }));
}
