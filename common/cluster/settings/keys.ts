/**
 * Every setting of the cluster services, once: its schema, how it is written as text (flags and
 * environment variables are strings), its description (the flag's help text) and its default.
 * `resolve.ts` layers flags, environment and a YAML file over these defaults; `compile.ts` turns
 * the result into what the services take. Keys are snake_case, as in the YAML file; the flag is
 * `--kebab-case` and the variable `ARROW_QUANT_<SERVICE>_<KEY>`.
 */
import { z } from 'zod';

import { DEFAULT_ETCD_PREFIX } from '../etcd-keys.js';

export type TextKind = 'string' | 'count' | 'bool' | 'list';

export interface SettingSpec {
  schema: z.ZodType;
  text: TextKind;
  /** The flag's argument, e.g. `<host:port>` (none for a switch). */
  arg?: string;
  description: string;
  default?: unknown;
}

const text = () => z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' });
const count = () => z.int({ error: 'must be an integer of at least 1' }).min(1, { error: 'must be an integer of at least 1' });
const list = () => z.array(text(), { error: 'must be a list of names' }).min(1, { error: 'must name at least one' });
const bool = () => z.boolean({ error: 'must be true or false' });

/** What both services have: their id, a health listener, etcd and TLS. */
const SHARED = {
  name: { schema: text(), text: 'string', arg: '<id>', description: 'this process\'s id in logs and etcd (default: host name and a random suffix)' },
  health_listen: { schema: text(), text: 'string', arg: '<host:port>', description: 'plaintext listener serving only grpc.health.v1 (Kubernetes probes)' },
  etcd: { schema: list(), text: 'list', arg: '<urls>', description: 'etcd endpoints, comma-separated (http://host:2379 or https://...)' },
  etcd_ca: { schema: text(), text: 'string', arg: '<file>', description: 'CA for etcd\'s TLS (https endpoints)' },
  etcd_cert: { schema: text(), text: 'string', arg: '<file>', description: 'client certificate for etcd' },
  etcd_key: { schema: text(), text: 'string', arg: '<file>', description: 'client key for etcd' },
  etcd_prefix: { schema: text(), text: 'string', arg: '<prefix>', description: 'key prefix, so several clusters can share one etcd', default: DEFAULT_ETCD_PREFIX },
  ...tlsSettings(),
} as const satisfies Record<string, SettingSpec>;

/** TLS material: mutual TLS by default; the client (`quantize --coordinator`) has these alone. */
export function tlsSettings() {
  return {
    tls_cert: { schema: text(), text: 'string', arg: '<file>', description: 'this peer\'s certificate (PEM), signed by the cluster CA' },
    tls_key: { schema: text(), text: 'string', arg: '<file>', description: 'its private key (PEM)' },
    tls_ca: { schema: text(), text: 'string', arg: '<file>', description: 'the cluster CA (PEM); peers must present certificates it signed' },
    insecure: { schema: bool(), text: 'bool', description: 'plaintext, no authentication (development on loopback only)', default: false },
  } as const satisfies Record<string, SettingSpec>;
}

export const COORDINATOR_SETTINGS = {
  listen: { schema: text(), text: 'string', arg: '<host:port>', description: 'address for workers and clients (port 0: any free port)' },
  advertise: { schema: text(), text: 'string', arg: '<host:port>', description: 'address workers should dial, published in etcd (default: the listen address)' },
  spool: { schema: text(), text: 'string', arg: '<dir>', description: 'directory for committed chunk results (survives restarts)', default: './arrowquant-spool' },
  in_flight: { schema: count(), text: 'count', arg: '<n>', description: 'chunks in flight across the fleet', default: 16 },
  steal_after_ms: { schema: count(), text: 'count', arg: '<ms>', description: 'minimum run time before an idle worker takes a backup copy of a chunk', default: 2000 },
  lease_ttl: { schema: count(), text: 'count', arg: '<s>', description: 'worker membership lease in etcd, seconds', default: 5 },
  heartbeat_ms: { schema: count(), text: 'count', arg: '<ms>', description: 'how often workers send a heartbeat', default: 1000 },
  max_failures: { schema: count(), text: 'count', arg: '<n>', description: 'failed attempts after which a chunk, and its job, fail', default: 4 },
  client_cn: { schema: list(), text: 'list', arg: '<names>', description: 'certificate common names allowed to submit jobs, comma-separated (a worker\'s certificate may not)', default: ['arrowquant-client'] },
  worker_cn: { schema: list(), text: 'list', arg: '<names>', description: 'certificate common names allowed to serve as workers, comma-separated', default: ['arrowquant-worker'] },
  ...SHARED,
} as const satisfies Record<string, SettingSpec>;

export const WORKER_SETTINGS = {
  coordinator: { schema: text(), text: 'string', arg: '<host:port>', description: 'the coordinator to dial (or the fallback when etcd names no leader)' },
  threads: { schema: count(), text: 'count', arg: '<n>', description: 'kernel threads (default: all cores)' },
  mode: { schema: z.enum(['streaming', 'threaded'], { error: 'must be streaming or threaded' }), text: 'string', arg: '<mode>', description: 'streaming: one chunk at a time over all threads; threaded: one chunk per thread', default: 'threaded' },
  shared_root: { schema: text(), text: 'string', arg: '<dir>', description: 'model files under this directory are readable here at the same path' },
  exit_when_idle: { schema: count(), text: 'count', arg: '<seconds>', description: 'drain and exit 0 after this long without work (batch runs, e.g. a Kubernetes Indexed Job)' },
  ...SHARED,
} as const satisfies Record<string, SettingSpec>;

export const CLIENT_SETTINGS = tlsSettings();

export type Specs = Record<string, SettingSpec>;

/** The values of a spec set, as the schemas type them. */
export type SettingsOf<S extends Specs> = { [K in keyof S]?: z.output<S[K]['schema']> };
