/**
 * The repository's TypeScript sources as the structure tests see them: every .ts file under the
 * top-level source folders, parsed with the compiler's own parser (no type checking), so an
 * import is found however it is written.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The folders tsconfig.json compiles (dist/, node_modules/ and target/ are not sources). */
export const SOURCE_DIRS = ['api', 'benches', 'cli', 'common', 'coordinator', 'examples', 'tests', 'tools', 'worker'] as const;

export interface SourceFile {
  /** Repository-relative, with forward slashes: `coordinator/run/job.ts`. */
  path: string;
  text: string;
}

function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'models') walk(p, out);
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
      out.push(p);
    }
  }
}

export function sourceFiles(dirs: readonly string[] = SOURCE_DIRS): SourceFile[] {
  const files: string[] = [];
  for (const d of dirs) walk(join(ROOT, d), files);
  return files.sort().map((f) => ({ path: relative(ROOT, f).split(sep).join('/'), text: readFileSync(f, 'utf8') }));
}

export function parse(file: SourceFile): ts.SourceFile {
  return ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

export interface ImportRef {
  /** As written: `../../coordinator/cluster/etcd.js`. */
  specifier: string;
  line: number;
}

/**
 * Every module a file refers to: `import … from`, `import '…'`, `export … from`, `import(…)`
 * (also in type positions, `import('…').T`), and `import x = require('…')`.
 */
export function importsOf(file: SourceFile): ImportRef[] {
  const sf = parse(file);
  const out: ImportRef[] = [];
  const add = (node: ts.Node, spec: ts.Expression | undefined) => {
    if (spec && ts.isStringLiteralLike(spec)) out.push({ specifier: spec.text, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node, node.moduleSpecifier);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node, node.moduleReference.expression);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The repository-relative path a relative specifier points at (undefined: a package). */
export function resolveSpecifier(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  return join(dirname(from), specifier).split(sep).join('/');
}

/** The top-level folder of a repository-relative path (`..` when it leaves the repository). */
export function topFolder(path: string): string {
  return path.split('/')[0]!;
}
