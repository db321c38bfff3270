/**
 * The cluster commands' flags, generated from the settings schema (common/cluster/settings/):
 * one flag per setting, its help text and default from there, and the values handed back keyed
 * by setting. Also what the services do on SIGTERM and after draining.
 */
import { Command } from 'commander';

import { clientTls, CLIENT_SETTINGS, flagOf, type Specs } from '../../common/cluster/settings/index.js';
import type { TlsMaterial } from '../../common/cluster/tls.js';

const camel = (key: string) => key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

function defaultText(value: unknown): string {
  if (value === undefined || value === false) return '';
  return ` (default: ${Array.isArray(value) ? value.join(',') : String(value)})`;
}

/** A flag for every setting in `specs` (`--kebab-case <arg>`, or a switch for a boolean). */
export function addSettingFlags(cmd: Command, specs: Specs): Command {
  for (const [key, spec] of Object.entries(specs)) {
    cmd.option(spec.arg ? `${flagOf(key)} ${spec.arg}` : flagOf(key), `${spec.description}${defaultText(spec.default)}`);
  }
  return cmd;
}

/** The flags given, keyed by setting (absent ones undefined: a lower layer or the default applies). */
export function settingFlags(opts: Record<string, unknown>, specs: Specs): Record<string, unknown> {
  return Object.fromEntries(Object.keys(specs).map((key) => [key, opts[camel(key)]]));
}

/** The client's TLS flags (`quantize --coordinator`). */
export function addTlsFlags(cmd: Command): Command {
  return addSettingFlags(cmd, CLIENT_SETTINGS);
}

export interface TlsCliFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  insecure?: boolean;
}

export function tlsFrom(flags: TlsCliFlags): TlsMaterial {
  return clientTls(settingFlags({ ...flags }, CLIENT_SETTINGS));
}

/** SIGTERM/SIGINT start a graceful drain; a second signal exits at once. */
export function onShutdownSignals(drain: (signal: string) => Promise<void>): void {
  let draining = false;
  const handler = (signal: NodeJS.Signals) => {
    if (draining) process.exit(130);
    draining = true;
    void drain(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * After a service has drained: exit even if a library left a handle open (etcd3's client keeps
 * timers after close()). Late enough for the caller's telemetry flush to finish first.
 */
export function exitSoon(ms = 1000): void {
  setTimeout(() => process.exit(process.exitCode ?? 0), ms).unref();
}
