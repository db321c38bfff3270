/**
 * The settings tables of docs/DEPLOY.md, generated from keys.ts (tests/docs/deploy-settings.test.ts
 * fails when the document is stale; `ARROWQUANT_UPDATE_DOCS=1` rewrites it).
 */
import { COORDINATOR_SETTINGS, WORKER_SETTINGS, type Specs } from './keys.js';
import { envVariable, flagOf, type Service } from './resolve.js';

function defaultOf(value: unknown): string {
  if (value === undefined) return '';
  return `\`${Array.isArray(value) ? value.join(',') : String(value)}\``;
}

function table(specs: Specs, service: Service): string {
  const rows = Object.entries(specs).map(([key, s]) => `| \`${key}\` | \`${flagOf(key)}${s.arg ? ` ${s.arg}` : ''}\` | \`${envVariable(service, key)}\` | ${defaultOf(s.default)} | ${s.description} |`);
  return ['| setting (YAML key) | flag | environment variable | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

export const SETTINGS_TABLES: Record<'coordinator' | 'worker', string> = {
  coordinator: table(COORDINATOR_SETTINGS, 'coordinator'),
  worker: table(WORKER_SETTINGS, 'worker'),
};
