/** The `arrowquant` command: its subcommands, and the run that maps errors to exit codes. */
import { Command, CommanderError } from 'commander';

import { exportCommand } from './commands/export.js';
import { inspectCommand } from './commands/inspect.js';
import { quantizeCommand } from './commands/quantize.js';
import { verifyCommand } from './commands/verify.js';
import { coordinatorCommand } from './commands/coordinator.js';
import { workerCommand } from './commands/worker.js';
import { describeError, exitCodeFor } from './exit.js';
import { startTelemetry } from '../common/telemetry.js';
import { packageVersion } from '../common/version.js';

export function program(): Command {
  const p = new Command('arrowquant')
    .description('Quantize large (diffusion) models into one Parquet file, with measured quality per tensor.')
    .option('-q, --quiet', 'print errors only')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .option('-v, --verbose', 'print the resolved configuration, every tensor and error causes')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const c of [quantizeCommand(), inspectCommand(), verifyCommand(), exportCommand(), coordinatorCommand(), workerCommand()]) p.addCommand(c.exitOverride());
  return p;
}

export async function main(): Promise<void> {
  // `arrowquant inspect f | head` closes the pipe early; that is not an error. A closed stderr
  // (logs piped into `head`) must not crash a running job either: logging just stops.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.stderr.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  const p = program();
  // OTLP export when the standard OTEL_* variables configure it (common/telemetry.ts).
  const telemetry = await startTelemetry();
  try {
    await p.parseAsync(process.argv);
  } catch (err) {
    const code = exitCodeFor(err);
    if (!(err instanceof CommanderError)) process.stderr.write(`${describeError(err, Boolean(p.opts().verbose))}\n`);
    process.exitCode = code;
  } finally {
    // Flushes the spans and metrics of this run.
    await telemetry?.shutdown().catch((e: unknown) => process.stderr.write(`warning: telemetry export failed: ${String(e)}\n`));
  }
}

