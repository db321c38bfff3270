/** Shared storage paths: what a worker with `--shared-root` may read by reference. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { underRealRoot, underRoot } from '../../common/cluster/shared-root.js';
import { tempDir } from '../helpers/cli.js';

test('underRoot: only paths inside the root, decided on resolved paths', () => {
  assert.equal(underRoot('/data/models/a.safetensors', '/data'), '/data/models/a.safetensors');
  assert.equal(underRoot('/data/models/a.safetensors', '/data/'), '/data/models/a.safetensors');
  assert.equal(underRoot('/data-other/a.safetensors', '/data'), undefined, 'a sibling with the root as prefix');
  assert.equal(underRoot('/data/../etc/passwd', '/data'), undefined, 'dot-dot out of the root');
  assert.equal(underRoot('/data', '/data'), undefined, 'the root itself is not a file under it');
  assert.equal(underRoot('models/a.safetensors', '/data'), undefined, 'relative paths are refused');
  assert.equal(underRoot('/data/a', ''), undefined, 'no root, no reads by reference');
});

test('underRealRoot: a symbolic link under the root cannot lead outside it', async () => {
  const dir = tempDir('shared-root');
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  mkdirSync(join(root, 'models'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'models', 'a.safetensors'), 'x');
  writeFileSync(join(outside, 'secret'), 'y');
  symlinkSync(outside, join(root, 'escape'));
  symlinkSync(root, join(dir, 'root-link'));
  assert.equal(await underRealRoot(join(root, 'models', 'a.safetensors'), root), join(root, 'models', 'a.safetensors'));
  assert.equal(await underRealRoot(join(root, 'escape', 'secret'), root), undefined);
  assert.equal(await underRealRoot(join(root, 'missing'), root), undefined);
  // A root given through a link still contains its own files.
  assert.ok(await underRealRoot(join(dir, 'root-link', 'models', 'a.safetensors'), join(dir, 'root-link')));
});
