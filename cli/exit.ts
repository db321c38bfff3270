/**
 * Exit codes scripts can rely on: 0 success, 1 the job failed (bad model, I/O, quality with
 * --fail-fast, verification mismatch), 2 usage or configuration error, 130 interrupted.
 */
import { CommanderError } from 'commander';

import { ConfigurationError } from '../common/config/index.js';
import { JobAbortedError } from '../coordinator/run/errors.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (err instanceof ConfigurationError) return EXIT.usage;
  if (err instanceof JobAbortedError) return EXIT.interrupted;
  return EXIT.failure;
}

/** One line a user can act on; the cause chain only with --verbose. */
export function describeError(err: unknown, verbose: boolean): string {
  if (!(err instanceof Error)) return `error: ${String(err)}`;
  const head = `error: ${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}`;
  if (!verbose) return head;
  const chain = [];
  let cause = err.cause;
  while (cause instanceof Error) {
    chain.push(`  caused by: ${cause.message}`);
    cause = cause.cause;
  }
  return [head, ...chain, err.stack ?? ''].join('\n');
}
