/** `arrowquant worker`: dial the coordinator and quantize the chunks it assigns. */
import { Command } from 'commander';

import { serviceLogger } from '../../common/cluster/log.js';
import { WORKER_SETTINGS, workerOptions } from '../../common/cluster/settings/index.js';
import { addSettingFlags, exitSoon, onShutdownSignals, settingFlags } from './cluster-flags.js';

export function workerCommand(): Command {
  const cmd = new Command('worker')
    .summary('run a worker: dial the coordinator and quantize the chunks it assigns')
    .description(
      'Dial the coordinator (or the leader etcd names), announce this machine (arch, SIMD, threads, memory,\n' +
        'mode) and quantize the chunks it assigns with the local kernels. With --shared-root the worker reads\n' +
        'model files under that directory itself and gets chunks by reference. Reconnects when the stream\n' +
        'breaks. Logs are JSON lines on stdout. SIGTERM drains: returns queued chunks, finishes running ones.\n' +
        'Settings, highest first: flags > ARROW_QUANT_WORKER_* environment variables > --config YAML\n' +
        '(snake_case keys: coordinator, mode, tls_cert, ...) > defaults.',
    )
    .option('--config <file>', 'YAML file of settings');
  addSettingFlags(cmd, WORKER_SETTINGS);
  return cmd
    .addHelpText('after', '\nExample:\n  arrowquant worker --coordinator coord.example:7070 --tls-cert worker.pem --tls-key worker-key.pem --tls-ca ca.pem --mode streaming')
    .action(async (flags: Record<string, unknown> & { config?: string }) => {
      const { options, warnings } = workerOptions({ flags: settingFlags(flags, WORKER_SETTINGS), ...(flags.config !== undefined ? { yamlPath: flags.config } : {}) });
      const log = serviceLogger('worker', options.id);
      for (const w of warnings) log.warn({}, w);
      // Imported here, not at the top: gRPC and etcd are a large part of the CLI's start.
      const { Worker } = await import('../../worker/cluster/worker.js');
      const worker = new Worker(options, log);
      onShutdownSignals((signal) => worker.stop(`received ${signal}`));
      await worker.start();
      await worker.done;
      exitSoon();
    });
}
