/**
 * `--report-html`: the page is self-contained (no scripts, no external resources), holds the
 * job's figures, and its charts are drawn: headless Chromium (Debian's `chromium`, installed by
 * scripts/setup-chromium.sh) renders it to a PNG, and each chart's colours are counted in it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';
import { pathToFileURL } from 'node:url';

import { PNG } from 'pngjs';

import { openQuantized } from '../../common/format/reader.js';
import { COLORS } from '../../coordinator/run/report-html.js';
import { runCli, synth, tempDir } from '../helpers/cli.js';

function chromium(): string {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim();
    } catch {
      /* next */
    }
  }
  throw new Error('no chromium on PATH: run scripts/setup-chromium.sh (npm test does)');
}

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

test('the HTML report renders its charts in headless Chromium', async () => {
  const dir = tempDir('report');
  await synth('dit', 'single', join(dir, 'dit'));
  const out = join(dir, 'out.parquet');
  const html = join(dir, 'report.html');
  const r = await runCli(['quantize', join(dir, 'dit'), '-o', out, '--bits', '2', '--min-accuracy', '0.97', '--report-html', html]);
  assert.equal(r.code, 0, r.stderr);
  const page = readFileSync(html, 'utf8');
  assert.ok(!/<script|<link|src=|@import|url\(/i.test(page), 'self-contained: no scripts or external resources');
  const f = await openQuantized(out);
  const quantized = f.tensors.filter((t) => t.method !== 'keep');
  const fallbacks = f.tensors.reduce((n, t) => n + t.fallbacks.length, 0);
  assert.ok(fallbacks > 0);
  // One bar per quantized layer, one table row per fallback step.
  const errorChart = /<svg id="error-chart"[\s\S]*?<\/svg>/.exec(page)![0];
  assert.equal((errorChart.match(/<rect /g) ?? []).length, quantized.length);
  assert.equal((/<table id="fallbacks">[\s\S]*?<\/table>/.exec(page)![0].match(/<tr>/g) ?? []).length, fallbacks + 1);
  for (const t of quantized) assert.ok(page.includes(t.name), t.name);

  const png = join(dir, 'report.png');
  execFileSync(chromium(), ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--window-size=1280,2400', `--screenshot=${png}`, pathToFileURL(html).href], { stdio: 'pipe', timeout: 60_000 });
  const img = PNG.sync.read(readFileSync(png));
  const count = (hex: string) => {
    const [r0, g0, b0] = rgb(hex);
    let n = 0;
    for (let i = 0; i < img.data.length; i += 4) {
      if (Math.abs(img.data[i]! - r0!) < 8 && Math.abs(img.data[i + 1]! - g0!) < 8 && Math.abs(img.data[i + 2]! - b0!) < 8) n++;
    }
    return n;
  };
  const bits = new Set(quantized.map((t) => t.bits));
  for (const b of bits) assert.ok(count(COLORS[b as 2 | 4 | 8]) > 2000, `${b}-bit bars drawn (${count(COLORS[b as 2 | 4 | 8])} px)`);
  assert.ok(count(COLORS.keep) > 2000, 'allocation bar of kept tensors drawn');
  assert.ok(count(COLORS.time) > 2000, 'timing bars drawn');
});
