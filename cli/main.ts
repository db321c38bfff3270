#!/usr/bin/env node
/**
 * The `arrowquant` executable. The program is imported here rather than statically so that what
 * can fail while loading it (the native addon of this platform, `common/native.ts`) is reported
 * as one error line with exit code 1, like any other failure, instead of a stack trace.
 */
try {
  const { main } = await import('./program.js');
  await main();
} catch (err) {
  const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');
  const message = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : undefined;
  process.stderr.write(`error: ${message}\n${verbose && cause ? `  caused by: ${cause.message}\n${cause.stack ?? ''}\n` : ''}`);
  process.exitCode = 1;
}
