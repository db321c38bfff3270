/**
 * The TypeScript API (package entry `arrowquant` → dist/api/index.js): quantizeModel's figures
 * agree with the file it wrote, DiffusionQuantConfig resolves like the CLI (and reads the
 * environment only when asked), errors are the seeds' classes, and the shipped declarations
 * type-check a consumer.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'vitest';

import { DIST, synth, tempDir } from '../helpers/cli.js';

// Through the package's own name, as a user imports it.
const api = (await import('arrowquant')) as typeof import('../../api/index.js');
const { DiffusionQuantConfig, quantizeModel, openQuantized, ConfigurationError, InvalidGroupSize, QuantizationError, ValidationError, ModelFormatError, QualityThresholdError } = api;

test('quantizeModel returns the figures of the file it wrote', async () => {
  const dir = tempDir('api');
  await synth('dit', 'single', join(dir, 'dit'));
  const out = join(dir, 'out.parquet');
  const events: string[] = [];
  const r = await quantizeModel({
    modelPath: join(dir, 'dit'),
    outputPath: out,
    config: DiffusionQuantConfig.fromProfile('edge').with({ bit_width: 4, enable_streaming: false }),
    onEvent: (e) => events.push(e.type),
  });
  const f = await openQuantized(out);
  const summary = JSON.parse(f.metadata['arrowquant.summary']!) as { meanCosine: number; minCosine: number; sourceBytes: number; tensors: number };
  const size = statSync(out).size;
  assert.equal(r.outputPath, out);
  assert.equal(r.modelSizeMb, size / 2 ** 20);
  assert.equal(r.compressionRatio, summary.sourceBytes / size);
  assert.equal(r.cosineSimilarity, summary.meanCosine);
  assert.equal(r.minCosineSimilarity, summary.minCosine);
  assert.equal(r.tensors, f.tensors.length);
  assert.equal(r.quantized + r.kept, r.tensors);
  assert.deepEqual([r.config.deployment_profile, r.config.bit_width, r.config.group_size, r.config.enable_streaming], ['edge', 4, 256, false]);
  assert.ok(r.cosineSimilarity > 0.9 && r.cosineSimilarity < 1);
  assert.ok(events.includes('plan') && events.includes('tensor'));

  // Plain values work too; fallbacks come back per step.
  const strict = await quantizeModel({ modelPath: join(dir, 'dit'), outputPath: join(dir, 'strict.parquet'), config: { method: 'rtn', bit_width: 2, min_accuracy: 0.99 } });
  assert.ok(strict.fallbacks.length > 0);
  for (const fb of strict.fallbacks) {
    assert.ok(fb.cosine < fb.threshold && fb.threshold === 0.99 && fb.tensor.length > 0, JSON.stringify(fb));
    assert.match(fb.from, /^rtn_int[24]_/);
  }
});

test('DiffusionQuantConfig resolves like the CLI and reads the environment only when asked', () => {
  assert.equal(DiffusionQuantConfig.default().validate().deployment_profile, 'local');
  assert.equal(DiffusionQuantConfig.fromProfile('cloud').validate().bit_width, 8);
  const env = { ARROW_QUANT_BIT_WIDTH: '2', ARROW_QUANT_GROUP_SIZE: '32' };
  const saved = process.env.ARROW_QUANT_BIT_WIDTH;
  process.env.ARROW_QUANT_BIT_WIDTH = '2';
  try {
    assert.equal(DiffusionQuantConfig.fromProfile('edge').with({ bit_width: 8 }).validate().bit_width, 8);
    assert.equal(DiffusionQuantConfig.fromProfile('cloud').validate().bit_width, 8, 'process.env is not read unless asked');
    assert.equal(DiffusionQuantConfig.fromProfile('cloud').applyEnvOverrides().validate().bit_width, 2);
  } finally {
    if (saved === undefined) delete process.env.ARROW_QUANT_BIT_WIDTH;
    else process.env.ARROW_QUANT_BIT_WIDTH = saved;
  }
  const c = DiffusionQuantConfig.fromProfile('cloud').applyEnvOverrides(env);
  assert.deepEqual([c.validate().bit_width, c.validate().group_size], [2, 32]);
  assert.equal(c.with({ bit_width: 4 }).validate().bit_width, 4, 'values set in code win over the environment');
  assert.deepEqual(c.describe().sources.bit_width, { kind: 'env', variable: 'ARROW_QUANT_BIT_WIDTH' });

  const dir = tempDir('api-yaml');
  const yaml = join(dir, 'cfg.yaml');
  writeFileSync(yaml, 'deployment_profile: edge\nmethod: hqq\ngroup_size: 100\n');
  const err = (() => {
    try {
      DiffusionQuantConfig.fromYaml(yaml).validate();
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof InvalidGroupSize && err instanceof ConfigurationError, String(err));
  assert.match(String(err), /group_size = 100 \(.*cfg\.yaml line 3\)/);
  writeFileSync(yaml, 'deployment_profile: edge\nmethod: hqq\n');
  assert.deepEqual([DiffusionQuantConfig.fromYaml(yaml).validate().method, DiffusionQuantConfig.fromYaml(yaml).validate().bit_width], ['hqq', 2]);
  assert.throws(() => DiffusionQuantConfig.fromProfile('mars' as 'edge').validate(), (e: unknown) => e instanceof ConfigurationError && /API option/.test(String(e)));
});

test('errors are QuantizationError, ValidationError and ConfigurationError', async () => {
  const dir = tempDir('api-errors');
  await synth('dit', 'single', join(dir, 'dit'));
  await assert.rejects(quantizeModel({ modelPath: join(dir, 'nope'), outputPath: join(dir, 'x.parquet') }), (e: unknown) => e instanceof ModelFormatError && e instanceof QuantizationError);
  await assert.rejects(
    quantizeModel({ modelPath: join(dir, 'dit'), outputPath: join(dir, 'y.parquet'), config: { bit_width: 2, min_accuracy: 0.9999, fail_fast: true } }),
    (e: unknown) => e instanceof QualityThresholdError && e instanceof ValidationError && e instanceof QuantizationError,
  );
  await assert.rejects(quantizeModel({ modelPath: join(dir, 'dit'), outputPath: join(dir, 'z.parquet'), config: { group_size: 100 as 128 } }), (e: unknown) => e instanceof InvalidGroupSize);
});

test('the shipped declarations type-check a consumer of the package', () => {
  // Inside the package (self-reference through "exports"), outside the main tsconfig.
  const root = dirname(DIST);
  const dir = join(DIST, 'tests', 'api', 'consumer');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(root, 'tests', 'api', 'consumer.fixture.txt'), join(dir, 'consumer.ts'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['consumer.ts'] }),
  );
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { stdio: 'pipe' });
});
