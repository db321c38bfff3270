/** `arrowquant coordinator`: serve workers and clients; leader-elected through etcd. */
import { Command } from 'commander';

import { serviceLogger } from '../../common/cluster/log.js';
import { COORDINATOR_SETTINGS, coordinatorOptions } from '../../common/cluster/settings/index.js';
import { addSettingFlags, exitSoon, onShutdownSignals, settingFlags } from './cluster-flags.js';

export function coordinatorCommand(): Command {
  const cmd = new Command('coordinator')
    .summary('run the cluster coordinator (workers dial it; clients submit jobs to it)')
    .description(
      'Serve the ArrowQuant cluster: plan submitted jobs with the local planner, shard their chunks over the\n' +
        'connected workers, commit each checked result once (spool + etcd), and write the same Parquet file a\n' +
        'local run writes. Several coordinators may run: etcd elects one leader; the others wait and take over,\n' +
        'resuming unfinished jobs from etcd and the spool. Logs are JSON lines on stdout. SIGTERM drains.\n' +
        'Settings, highest first: flags > ARROW_QUANT_COORDINATOR_* environment variables > --config YAML\n' +
        '(snake_case keys: listen, etcd, tls_cert, ...) > defaults. --listen and --etcd are required.',
    )
    .option('--config <file>', 'YAML file of settings');
  addSettingFlags(cmd, COORDINATOR_SETTINGS);
  return cmd
    .addHelpText('after', '\nExample:\n  arrowquant coordinator --listen 0.0.0.0:7070 --etcd http://etcd:2379 --tls-cert coordinator.pem --tls-key coordinator-key.pem --tls-ca ca.pem --spool /var/lib/arrowquant/spool')
    .action(async (flags: Record<string, unknown> & { config?: string }) => {
      const { options, warnings } = coordinatorOptions({ flags: settingFlags(flags, COORDINATOR_SETTINGS), ...(flags.config !== undefined ? { yamlPath: flags.config } : {}) });
      const log = serviceLogger('coordinator', options.id);
      for (const w of warnings) log.warn({}, w);
      // Imported here, not at the top: etcd and the server are a large part of the CLI's start.
      const { Coordinator } = await import('../../coordinator/cluster/server.js');
      const coordinator = new Coordinator(options, log);
      onShutdownSignals((signal) => coordinator.stop(`received ${signal}`));
      await coordinator.start();
      await coordinator.done;
      exitSoon();
    });
}
