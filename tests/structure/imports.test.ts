/**
 * Import directions (issue 13): dependencies point down, never up.
 *
 *   cli/, api/          the entry points
 *   coordinator/        reading, planning, running and writing a job; the cluster coordinator
 *   worker/             the kernels' executor and the cluster worker
 *   common/             what both sides share: config, contracts, wire codec, native binding
 *   tools/              development tools (the synthetic model generator); nothing depends on them
 *
 * A worker never imports the coordinator (it runs on another machine from the same package, and
 * must not drag in the planner, etcd's election and fencing, …); common/ imports nothing above
 * it; production code imports nothing from tools/. Tests, benches and examples may import
 * anything. The first tests prove the scanner sees every way an import can be written, so the
 * last one cannot pass by missing them.
 */
import { describe, expect, test } from 'vitest';

import { importsOf, resolveSpecifier, sourceFiles, topFolder, type SourceFile } from './source-files.js';

const PRODUCTION = ['api', 'cli', 'common', 'coordinator', 'worker'];

/** Folders each folder may not import from. */
const FORBIDDEN: Record<string, readonly string[]> = {
  common: ['api', 'cli', 'coordinator', 'tools', 'worker'],
  worker: ['api', 'cli', 'coordinator', 'tools'],
  coordinator: ['api', 'cli', 'tools'],
  cli: ['tools'],
  api: ['tools'],
};

interface Violation {
  file: string;
  line: number;
  specifier: string;
  rule: string;
}

function violations(files: SourceFile[]): Violation[] {
  const out: Violation[] = [];
  for (const f of files) {
    const from = topFolder(f.path);
    const forbidden = FORBIDDEN[from] ?? [];
    for (const ref of importsOf(f)) {
      const target = resolveSpecifier(f.path, ref.specifier);
      if (target === undefined) continue;
      const to = topFolder(target);
      if (forbidden.includes(to)) {
        const rule = to === 'tools' ? 'production code imports nothing from tools/' : `${from}/ may not import ${to}/`;
        out.push({ file: f.path, line: ref.line, specifier: ref.specifier, rule });
      }
    }
  }
  return out;
}

const describeAll = (vs: Violation[]) => vs.map((v) => `${v.file}:${v.line} imports ${v.specifier} (${v.rule})`).join('\n');

describe('the scanner', () => {
  test('finds every form of import, re-export and dynamic import', () => {
    const text = [
      "import { a } from '../coordinator/a.js';",
      "import type { B } from '../coordinator/b.js';",
      "import '../coordinator/c.js';",
      "import * as d from '../coordinator/d.js';",
      "export { e } from '../coordinator/e.js';",
      "export * from '../coordinator/f.js';",
      "export type { G } from '../coordinator/g.js';",
      "const h = await import('../coordinator/h.js');",
      "type I = import('../coordinator/i.js').I;",
      "import j = require('../coordinator/j.js');",
      "const k = 'import \"../coordinator/not-an-import.js\"'; // a string, not an import",
    ].join('\n');
    const found = importsOf({ path: 'worker/x.ts', text }).map((r) => r.specifier);
    expect(found).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].map((n) => `../coordinator/${n}.js`));
  });

  test('reports a forbidden import with its file, line and rule; allowed ones pass', () => {
    const files: SourceFile[] = [
      { path: 'worker/cluster/x.ts', text: "import { readLeader } from '../../common/cluster/etcd.js';\nimport { ClusterStore } from '../../coordinator/cluster/etcd.js';\n" },
      { path: 'common/y.ts', text: "export * from '../worker/z.js';\nconst t = import('../tools/synth/generate.js');\n" },
      { path: 'coordinator/run/ok.ts', text: "import { LocalExecutor } from '../../worker/executor/local.js';\nimport { z } from 'zod';\n" },
      { path: 'tests/any.test.ts', text: "import { generateModel } from '../tools/synth/generate.js';\n" },
    ];
    expect(violations(files)).toEqual([
      { file: 'worker/cluster/x.ts', line: 2, specifier: '../../coordinator/cluster/etcd.js', rule: 'worker/ may not import coordinator/' },
      { file: 'common/y.ts', line: 1, specifier: '../worker/z.js', rule: 'common/ may not import worker/' },
      { file: 'common/y.ts', line: 2, specifier: '../tools/synth/generate.js', rule: 'production code imports nothing from tools/' },
    ]);
  });
});

test('no import points up: worker/ ⇸ coordinator/, common/ ⇸ anything above it, production ⇸ tools/', () => {
  const files = sourceFiles(PRODUCTION);
  expect(files.length).toBeGreaterThan(50);
  const found = violations(files);
  expect(found, describeAll(found)).toEqual([]);
});
