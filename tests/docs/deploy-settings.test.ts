/**
 * docs/DEPLOY.md's settings tables are the schema's (common/cluster/settings/keys.ts), generated;
 * `ARROWQUANT_UPDATE_DOCS=1 npx vitest run tests/docs/deploy-settings.test.ts` rewrites them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { expect, test } from 'vitest';

import { SETTINGS_TABLES } from '../../common/cluster/settings/table.js';
import { ROOT } from '../helpers/cli.js';

const DEPLOY = join(ROOT, 'docs', 'DEPLOY.md');

test.each(['coordinator', 'worker'] as const)('the %s settings table is generated from the schema', (service) => {
  const begin = `<!-- ${service}-settings:begin (generated from common/cluster/settings/keys.ts) -->\n`;
  const end = `\n<!-- ${service}-settings:end -->`;
  const text = readFileSync(DEPLOY, 'utf8');
  const [start, stop] = [text.indexOf(begin), text.indexOf(end)];
  expect(start, `DEPLOY.md has the ${service} table's begin marker`).toBeGreaterThanOrEqual(0);
  expect(stop, `DEPLOY.md has the ${service} table's end marker`).toBeGreaterThan(start);
  const have = text.slice(start + begin.length, stop);
  if (process.env['ARROWQUANT_UPDATE_DOCS'] && have !== SETTINGS_TABLES[service]) {
    writeFileSync(DEPLOY, text.slice(0, start + begin.length) + SETTINGS_TABLES[service] + text.slice(stop));
    return;
  }
  expect(have, 'DEPLOY.md is stale: ARROWQUANT_UPDATE_DOCS=1 npx vitest run tests/docs/deploy-settings.test.ts').toBe(SETTINGS_TABLES[service]);
});
