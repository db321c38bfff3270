/** How the CLI talks: a terminal gets a progress bar and tables; anything else gets JSON lines. */
export interface OutputMode {
  /** stderr is a terminal: draw the progress bar. */
  tty: boolean;
  color: boolean;
  quiet: boolean;
  verbose: boolean;
}

export function outputMode(opts: { quiet?: boolean; verbose?: boolean }): OutputMode {
  const tty = Boolean(process.stderr.isTTY);
  // https://no-color.org: any non-empty NO_COLOR disables color.
  const color = tty && !(process.env.NO_COLOR ?? '') && process.env.TERM !== 'dumb';
  return { tty, color, quiet: Boolean(opts.quiet), verbose: Boolean(opts.verbose) };
}

/** A log line: human text on a terminal, one JSON object per line otherwise. */
export function log(mode: OutputMode, event: string, text: string, fields: Record<string, unknown> = {}, level: 'info' | 'debug' | 'warn' = 'info'): void {
  if (mode.quiet && level !== 'warn') return;
  if (level === 'debug' && !mode.verbose) return;
  if (mode.tty) process.stderr.write(`${text}\n`);
  else process.stderr.write(`${JSON.stringify({ event, level, ...fields, message: text })}\n`);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${n.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}
