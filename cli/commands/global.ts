import type { Command } from 'commander';

export interface GlobalOptions {
  quiet?: boolean;
  verbose?: boolean;
}

/** The program-level flags (`--quiet`, `--verbose`) as seen from a subcommand. */
export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}
