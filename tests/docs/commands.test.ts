/**
 * Every command in the docs runs: the ```sh blocks of QUICKSTART.md, CONFIGURATION.md,
 * CALIBRATION.md, DEPLOY.md and RUN-LLAMA-CPP.md (in that order, in one fresh folder, with `arrowquant` and `arrowquant-synth` on
 * the PATH and the repository's docs/ linked in), then the ```js blocks of API.md as ES modules
 * importing 'arrowquant'. A block that fails fails the test with its text and output.
 * RUN-SD-CPP.md's blocks run in a folder of their own where stable-diffusion.cpp's sd-cli is built
 * (scripts/setup-sdcpp.sh, which npm run test:runtimes runs; test-all.sh does not build it), and
 * are skipped, saying so, where it is not.
 * (```text blocks are illustrations that need what this machine does not have; each says so.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'vitest';

import { CONFIG_KEYS, ENV_VARIABLES } from '../../common/config/index.js';
import { DIST } from '../helpers/cli.js';

const ROOT = dirname(DIST);
const DOCS = join(ROOT, 'docs');

const LLAMA_CPP_CACHE = join(ROOT, '.cache', 'llama.cpp');
const SDCPP_CACHE = join(ROOT, '.cache', 'sdcpp');
const SD_CLI = join(SDCPP_CACHE, '0.4.7', 'build', 'bin', 'sd-cli');

function blocks(doc: string, lang: string): string[] {
  const text = readFileSync(join(DOCS, doc), 'utf8');
  return [...text.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, 'gm'))].map((m) => m[1]!);
}

/** A fresh folder inside the package (so that `import 'arrowquant'` resolves to it) with the CLIs on the PATH, docs/ and scripts/ linked in. */
function workFolder(folder: string): { work: string; env: NodeJS.ProcessEnv } {
  const work = join(DIST, 'tests', 'docs', folder);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, '.bin'), { recursive: true });
  for (const [name, script] of [['arrowquant', 'cli/main.js'], ['arrowquant-synth', 'tools/synth/cli.js']]) {
    writeFileSync(join(work, '.bin', name!), `#!/bin/sh\nexec "${process.execPath}" "${join(DIST, script!)}" "$@"\n`);
    chmodSync(join(work, '.bin', name!), 0o755);
  }
  symlinkSync(DOCS, join(work, 'docs'));
  // DEPLOY.md runs the certificate and validation scripts.
  symlinkSync(join(ROOT, 'scripts'), join(work, 'scripts'));
  const venv = join(ROOT, '.venv', 'bin');
  assert.ok(existsSync(venv), `${venv} is missing: run scripts/setup-python.sh (npm test does) for the docs' Python commands`);
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ARROW_QUANT_') && !k.startsWith('OTEL_')));
  env.PATH = [join(work, '.bin'), venv, process.env.PATH].join(':');
  env.ARROW_QUANT_CACHE_DIR = join(work, '.cache');
  // RUN-LLAMA-CPP.md and RUN-SD-CPP.md run llama.cpp's and stable-diffusion.cpp's tools from the
  // repository's builds (scripts/setup-llama-cpp.sh, scripts/setup-sdcpp.sh).
  env.LLAMA_CPP_CACHE = LLAMA_CPP_CACHE;
  env.SDCPP_CACHE = SDCPP_CACHE;
  return { work, env };
}

function runBlocks(doc: string, work: string, env: NodeJS.ProcessEnv): number {
  const sh = blocks(doc, 'sh');
  assert.ok(sh.length > 0, `${doc} has commands`);
  for (const [i, block] of sh.entries()) {
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', block], { cwd: work, env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `${doc} block ${i + 1} failed (exit ${r.status}):\n${block}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`);
  }
  return sh.length;
}

test('every command in the docs runs', () => {
  const { work, env } = workFolder('work');
  assert.ok(existsSync(join(LLAMA_CPP_CACHE, '0.3.36', 'build', 'bin', 'llama-diffusion-cli')), 'llama.cpp is not built: run bash scripts/setup-llama-cpp.sh (npm test does) for RUN-LLAMA-CPP.md');

  let n = 0;
  for (const doc of ['QUICKSTART.md', 'CONFIGURATION.md', 'CALIBRATION.md', 'DEPLOY.md', 'RUN-LLAMA-CPP.md']) n += runBlocks(doc, work, env);
  for (const [i, block] of blocks('API.md', 'js').entries()) {
    const file = join(work, `api-${i + 1}.mjs`);
    writeFileSync(file, block);
    const r = spawnSync(process.execPath, [file], { cwd: work, env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `API.md example ${i + 1} failed:\n${block}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`);
    n++;
  }
  // FORMAT.md's worked example (pyarrow + numpy only) decodes an RTN tensor exactly as the
  // reference reader does.
  const [example] = blocks('FORMAT.md', 'python');
  assert.ok(example, 'FORMAT.md has its worked example');
  const check = `${example}
import sys
sys.path.insert(0, "docs")
import numpy as np, reference_reader as rr
name = "transformer_blocks.0.attn.to_q.weight"
got = dequantize_rtn("dit.int4.parquet", name)
assert np.array_equal(got.view(np.uint32), rr.dequantize("dit.int4.parquet", "transformer/" + name).view(np.uint32))
print("worked example ok", got.shape)
`;
  writeFileSync(join(work, 'format-example.py'), check);
  const py = spawnSync('python3', ['format-example.py'], { cwd: work, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(py.status, 0, `FORMAT.md worked example failed:\n${py.stdout}\n${py.stderr}`);
  n++;
  assert.ok(n >= 13, `${n} blocks run`);
});

test.skipIf(!existsSync(SD_CLI))('every command in RUN-SD-CPP.md runs (skipped where sd-cli is not built: bash scripts/setup-sdcpp.sh, as npm run test:runtimes does)', () => {
  const { work, env } = workFolder('work-sdcpp');
  assert.ok(runBlocks('RUN-SD-CPP.md', work, env) >= 2);
});

test('CONFIGURATION.md documents every key and environment variable', () => {
  const text = readFileSync(join(DOCS, 'CONFIGURATION.md'), 'utf8');
  for (const k of CONFIG_KEYS) assert.ok(text.includes(`| \`${k}\` |`), `key ${k}`);
  for (const v of Object.values(ENV_VARIABLES)) assert.ok(text.includes(v), `variable ${v}`);
});
