/**
 * The cluster services' settings (common/cluster/settings/): one schema with the defaults written
 * once, flags > environment > YAML > defaults, strict text parsing, and named errors that say
 * where the bad value was written, as the quantize configuration does.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';

import { describe, expect, test } from 'vitest';

import { envWarnings } from '../../common/config/index.js';
import {
  ConflictingClusterSettings,
  COORDINATOR_SETTINGS,
  coordinatorOptions,
  envVariable,
  InvalidClusterSetting,
  MissingClusterSetting,
  UnknownClusterSetting,
  WORKER_SETTINGS,
  workerOptions,
} from '../../common/cluster/settings/index.js';
import { runCli, tempDir } from '../helpers/cli.js';

const dir = tempDir('cluster-settings');
const yaml = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const required = { listen: '127.0.0.1:7070', etcd: 'http://127.0.0.1:2379', insecure: true };
const caught = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

describe('coordinator', () => {
  test('defaults come from the schema, once', () => {
    const { options } = coordinatorOptions({ flags: required, env: {} });
    expect(options).toMatchObject({
      listen: '127.0.0.1:7070',
      advertise: '127.0.0.1:7070',
      etcd: { endpoints: ['http://127.0.0.1:2379'], namespace: COORDINATOR_SETTINGS.etcd_prefix.default },
      tls: { insecure: true },
      spool: resolve(COORDINATOR_SETTINGS.spool.default),
      inFlight: COORDINATOR_SETTINGS.in_flight.default,
      stealAfterMs: COORDINATOR_SETTINGS.steal_after_ms.default,
      leaseTtlSeconds: COORDINATOR_SETTINGS.lease_ttl.default,
      heartbeatMs: COORDINATOR_SETTINGS.heartbeat_ms.default,
      maxFailures: COORDINATOR_SETTINGS.max_failures.default,
      clientNames: ['arrowquant-client'],
      workerNames: ['arrowquant-worker'],
    });
    expect(options.id).toMatch(/^.+-[0-9a-f]{8}$/);
  });

  test('flags > environment > YAML > defaults, each parsed strictly', () => {
    const file = yaml('c.yaml', 'listen: 0.0.0.0:1\netcd: [http://a:2379, http://b:2379]\nin_flight: 3\nsteal_after_ms: 900\nclient_cn: ops,ci\n');
    const env = { [envVariable('coordinator', 'in_flight')]: ' 5 ', [envVariable('coordinator', 'insecure')]: 'yes' };
    const { options } = coordinatorOptions({ yamlPath: file, env, flags: { listen: '127.0.0.1:9' } });
    expect(options).toMatchObject({ listen: '127.0.0.1:9', etcd: { endpoints: ['http://a:2379', 'http://b:2379'] }, inFlight: 5, stealAfterMs: 900, clientNames: ['ops', 'ci'], tls: { insecure: true } });
  });

  test('a bad value names where it was written', () => {
    const fromEnv = caught(() => coordinatorOptions({ flags: required, env: { ARROW_QUANT_COORDINATOR_IN_FLIGHT: '4.5' } }));
    expect(fromEnv).toBeInstanceOf(InvalidClusterSetting);
    expect(fromEnv.message).toBe('in_flight = "4.5" (environment variable ARROW_QUANT_COORDINATOR_IN_FLIGHT): must be an integer of at least 1');
    const fromFlag = caught(() => coordinatorOptions({ flags: { ...required, lease_ttl: '0' }, env: {} }));
    expect(fromFlag.message).toBe('lease_ttl = 0 (command-line flag --lease-ttl): must be an integer of at least 1');
    const fromYaml = caught(() => coordinatorOptions({ flags: required, env: {}, yamlPath: yaml('bad.yaml', 'spool: /s\nin_flight: "8"\n') }));
    expect(fromYaml).toBeInstanceOf(InvalidClusterSetting);
    expect(fromYaml.message).toMatch(/^in_flight = "8" \(.*bad\.yaml line 2\): must be an integer/);
  });

  test('an unknown YAML key is refused with the nearest setting', () => {
    const err = caught(() => coordinatorOptions({ flags: required, env: {}, yamlPath: yaml('typo.yaml', 'listen: x:1\ninflight: 4\n') }));
    expect(err).toBeInstanceOf(UnknownClusterSetting);
    expect((err as UnknownClusterSetting).suggestion).toBe('in_flight');
    expect(err.message).toMatch(/"inflight" \(.*typo\.yaml line 2\) is not a setting of this service; did you mean "in_flight"\?/);
  });

  test('listen and etcd are required; the error says how to give them', () => {
    const err = caught(() => coordinatorOptions({ flags: { insecure: true }, env: {} }));
    expect(err).toBeInstanceOf(MissingClusterSetting);
    expect(err.message).toBe('the coordinator needs --listen and --etcd (or ARROW_QUANT_COORDINATOR_LISTEN, ARROW_QUANT_COORDINATOR_ETCD)');
  });
});

describe('TLS', () => {
  test('all three files or insecure; a mix names each setting as it was written', () => {
    const missing = caught(() => workerOptions({ flags: { coordinator: 'c:1' }, env: {} }));
    expect(missing).toBeInstanceOf(MissingClusterSetting);
    expect(missing.message).toMatch(/--tls-cert, --tls-key and --tls-ca .*--insecure/s);
    const mixed = caught(() => workerOptions({ flags: { coordinator: 'c:1', tls_cert: 'w.pem' }, env: { ARROW_QUANT_WORKER_INSECURE: 'true' } }));
    expect(mixed).toBeInstanceOf(ConflictingClusterSettings);
    expect(mixed.message).toBe('ARROW_QUANT_WORKER_INSECURE cannot be combined with --tls-cert');
  });

  test('an unreadable certificate names its setting and file', () => {
    const err = caught(() => workerOptions({ flags: { coordinator: 'c:1', tls_cert: join(dir, 'none.pem'), tls_key: 'k', tls_ca: 'ca' }, env: {} }));
    expect(err).toBeInstanceOf(InvalidClusterSetting);
    expect(err.message).toMatch(/^tls_cert = ".*none\.pem" \(command-line flag --tls-cert\): cannot read it: ENOENT/);
  });
});

describe('worker', () => {
  test('defaults: all cores, threaded, the package version; a shared root made absolute', () => {
    const { options } = workerOptions({ flags: { coordinator: 'c:1', insecure: true, shared_root: 'models' }, env: {} });
    expect(options).toMatchObject({ coordinator: 'c:1', threads: availableParallelism(), mode: WORKER_SETTINGS.mode.default, sharedRoot: resolve('models') });
    expect(options.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(options.etcd).toBeUndefined();
  });

  test('a coordinator or etcd is required', () => {
    const err = caught(() => workerOptions({ flags: { insecure: true }, env: {} }));
    expect(err).toBeInstanceOf(MissingClusterSetting);
    expect(err.message).toMatch(/^give --coordinator HOST:PORT, or --etcd to find the leader/);
    expect(caught(() => workerOptions({ flags: { insecure: true, mode: 'turbo', coordinator: 'c:1' }, env: {} })).message).toBe('mode = "turbo" (command-line flag --mode): must be streaming or threaded');
  });

  test('misspelt service variables are warned about; the quantize configuration ignores every service variable', () => {
    const { warnings } = workerOptions({ flags: { coordinator: 'c:1', insecure: true }, env: { ARROW_QUANT_WORKER_THREAD: '2' } });
    expect(warnings).toEqual(['environment variable ARROW_QUANT_WORKER_THREAD is not a worker setting; did you mean ARROW_QUANT_WORKER_THREADS?']);
    const every = Object.fromEntries([...Object.keys(COORDINATOR_SETTINGS).map((k) => envVariable('coordinator', k)), ...Object.keys(WORKER_SETTINGS).map((k) => envVariable('worker', k))].map((v) => [v, '1']));
    expect(envWarnings(every)).toEqual([]);
  });
});

describe('the commands', () => {
  test('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('a coordinator without its required settings is a usage error (exit 2), naming them', async () => {
    const r = await runCli(['coordinator', '--insecure']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/MissingClusterSetting: the coordinator needs --listen and --etcd/);
  });

  test('--config reads a YAML file of settings, each value checked where it is written (even one a flag replaces)', async () => {
    const bad = yaml('worker-bad.yaml', 'coordinator: 127.0.0.1:1\ninsecure: true\nmode: turbo\n');
    const r = await runCli(['worker', '--config', bad, '--mode', 'streaming']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/InvalidClusterSetting: mode = "turbo" \(.*worker-bad\.yaml line 3\): must be streaming or threaded/);
    const good = yaml('worker.yaml', 'coordinator: 127.0.0.1:1\ninsecure: true\nmode: streaming\n');
    const flag = await runCli(['worker', '--config', good, '--threads', '0']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/threads = 0 \(command-line flag --threads\): must be an integer of at least 1/);
  });
});
