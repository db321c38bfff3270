/** The CLI's contract: help, exit codes, interruption, inspect, verify, modality logging. */
import assert from 'node:assert/strict';
import { existsSync, openSync, readdirSync, readFileSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';

import { CLI, jsonLines, runCli, synth, tempDir } from '../helpers/cli.js';

test('--help works on every command and teaches with examples', async () => {
  for (const args of [['--help'], ['quantize', '--help'], ['inspect', '--help'], ['verify', '--help']]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /Usage: arrowquant/);
  }
  assert.match((await runCli(['quantize', '--help'])).stdout, /Examples:[\s\S]*--profile (edge|local|cloud)/);
});

test('usage errors exit 2', async () => {
  assert.equal((await runCli(['frobnicate'])).code, 2);
  assert.equal((await runCli(['quantize'])).code, 2);
  const r = await runCli(['quantize', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /required option '-o, --output <file>'/);
});

for (const mode of ['streaming', 'threaded']) {
  test(`Ctrl-C mid-job (${mode}) exits 130, leaves no partial output and keeps the previous file`, async () => {
    const dir = tempDir(`sigint-${mode}`);
    await synth('dit', 'single', join(dir, 'm'), 'small');
    const out = join(dir, 'o.parquet');
    writeFileSync(out, 'previous');
    let sent = false;
    const r = await runCli(['quantize', join(dir, 'm'), '-o', out, '--mode', mode, '--threads', '1', '--method', 'fp8_e4m3', '--verbose'], {
      onStderrLine: (line, child) => {
        if (!sent && line.includes('"event":"progress"')) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    assert.ok(sent, 'the job never reported progress');
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted \(received SIGINT\); no output was written/);
    assert.equal(readFileSync(out, 'utf8'), 'previous');
    assert.deepEqual(readdirSync(dir).sort(), ['m', 'o.parquet']);
  });
}

test('modality is detected and logged with its reason; --modality overrides it', async () => {
  const dir = tempDir('modality');
  await synth('dream', 'single', join(dir, 'm'));
  const r = await runCli(['quantize', join(dir, 'm'), '-o', join(dir, 'a.parquet')]);
  const m = jsonLines(r.stderr).find((e) => e.event === 'modality')!;
  assert.equal(m.modality, 'text');
  assert.match(String(m.reason), /config\.json: "Dream.*" is a text model/);
  const o = await runCli(['quantize', join(dir, 'm'), '-o', join(dir, 'b.parquet'), '--modality', 'code']);
  const mo = jsonLines(o.stderr).find((e) => e.event === 'modality')!;
  assert.equal(mo.modality, 'code');
  assert.equal(mo.detected, false);
});

test('inspect reports tensors, sizes and quality; verify passes, then catches a changed source', async () => {
  const dir = tempDir('inspect');
  await synth('dit', 'diffusers', join(dir, 'm'));
  const out = join(dir, 'o.parquet');
  const report = join(dir, 'report.json');
  assert.equal((await runCli(['quantize', join(dir, 'm'), '-o', out, '--report', report])).code, 0);
  const i = await runCli(['inspect', out, '--json']);
  assert.equal(i.code, 0, i.stderr);
  const doc = JSON.parse(i.stdout) as { totals: { tensors: number; quantized: number; compressionRatio: number; minCosine: number }; tensors: { component?: string; scheme: string; storedBytes: number }[] };
  // Per-tensor sizes from the schemes' layouts add up to the payload the job wrote.
  const rep = JSON.parse(readFileSync(report, 'utf8')) as { summary: { payloadBytes: number } };
  assert.equal(doc.tensors.reduce((s, t) => s + t.storedBytes, 0), rep.summary.payloadBytes);
  assert.ok(doc.totals.quantized > 0 && doc.totals.tensors > doc.totals.quantized);
  assert.ok(doc.totals.compressionRatio > 1);
  assert.ok(doc.totals.minCosine > 0.9);
  assert.deepEqual([...new Set(doc.tensors.map((t) => t.component))], ['text_encoder', 'transformer', 'vae']);
  const table = await runCli(['inspect', out]);
  assert.match(table.stdout, /compression ratio/);

  const v = await runCli(['verify', out, join(dir, 'm')]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stderr, /all match/);
  // Flip one byte inside the transformer's weights: hash and that tensor's quality both change.
  const file = join(dir, 'm', 'transformer', 'diffusion_pytorch_model.safetensors');
  const fd = openSync(file, 'r+');
  const size = readFileSync(file).length;
  writeSync(fd, Buffer.from([0x7f]), 0, 1, size - 4000);
  closeSync(fd);
  const bad = await runCli(['verify', out, join(dir, 'm')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /transformer\/diffusion_pytorch_model\.safetensors differs from the one quantized/);
  assert.ok(existsSync(out));
});

test('on a terminal: a progress bar and the summary table (run under script(1) for a pty)', async () => {
  const dir = tempDir('tty');
  await synth('dit', 'single', join(dir, 'm'));
  const out = join(dir, 'o.parquet');
  const { spawnSync } = await import('node:child_process');
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} quantize ${JSON.stringify(join(dir, 'm'))} -o ${JSON.stringify(out)}`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', COLUMNS: '120' } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  // cli-progress draws "░"/"█" with tensor and byte counts; the table has the summary rows.
  assert.match(r.stdout, /[█░]+ \d+% \| \d+\/\d+ tensors \| [\d.]+ (B|KiB|MiB)\/[\d.]+ (KiB|MiB)/);
  assert.match(r.stdout, /compression ratio\s+│\s+[\d.]+×/);
  assert.match(r.stdout, /cosine \(min \/ mean\)/);
  assert.doesNotMatch(r.stdout, /\u001b\[3\dm/, 'NO_COLOR is set, yet colors were printed');
  assert.doesNotMatch(r.stdout, /^\{"event"/m, 'JSON lines on a terminal');
});
