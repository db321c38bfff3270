/**
 * The job is stages, not one long function (issue 13): no function in coordinator/run/ spans
 * more than MAX_LINES lines, nested closures included (a closure is part of the function that
 * holds it, so splitting state into closures does not count as splitting the function).
 */
import { expect, test } from 'vitest';
import ts from 'typescript';

import { parse, sourceFiles } from './source-files.js';

const MAX_LINES = 80;

interface FunctionSize {
  where: string;
  lines: number;
}

function functionsOf(path: string, text: string): FunctionSize[] {
  const sf = parse({ path, text });
  const out: FunctionSize[] = [];
  const line = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const name = 'name' in node && node.name && ts.isIdentifier(node.name) ? node.name.text : '(anonymous)';
      const first = line(node.getStart(sf));
      out.push({ where: `${path}:${first} ${name}`, lines: line(node.getEnd()) - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

test('the measure counts a function with its closures', () => {
  const body = Array.from({ length: 100 }, (_, i) => `    const v${i} = ${i};`).join('\n');
  const sizes = functionsOf('x.ts', `export function outer() {\n  const inner = () => {\n${body}\n  };\n  return inner;\n}\n`);
  expect(sizes.map((s) => [s.where, s.lines])).toEqual([
    ['x.ts:1 outer', 105],
    ['x.ts:2 (anonymous)', 102],
  ]);
});

test(`no function in coordinator/run/ is longer than ${MAX_LINES} lines`, () => {
  const files = sourceFiles(['coordinator']).filter((f) => f.path.startsWith('coordinator/run/'));
  expect(files.length).toBeGreaterThan(10);
  const long = files.flatMap((f) => functionsOf(f.path, f.text)).filter((s) => s.lines > MAX_LINES);
  expect(long.map((s) => `${s.where}: ${s.lines} lines`)).toEqual([]);
});
