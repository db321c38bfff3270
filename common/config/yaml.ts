/**
 * Reading a YAML configuration file, keeping the document (not just the data) so that any key path
 * can be traced back to its line and column for error messages and `describeConfig`.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';

import { ConfigurationError, InvalidYaml } from './errors.js';

export type KeyPath = readonly (string | number)[];

/** 1-based, as editors show them. */
export interface YamlPosition {
  line: number;
  column: number;
}

export interface LoadedYaml {
  file: string;
  /** The top-level mapping as plain data ({} for an empty or comment-only file). */
  data: Record<string, unknown>;
  /**
   * Where `path` (e.g. ["overrides", 0, "bit_width"]) is written: by default the key of a mapping
   * entry (or the item of a list), with part 'value' the value itself. A path that does not exist
   * in the file locates its deepest existing ancestor; the empty path is the document start.
   */
  locate(path: KeyPath, part?: 'key' | 'value'): YamlPosition;
}

/** Read and parse `file`. Errors: `InvalidYaml`, or `ConfigurationError` if it cannot be read. */
export function loadYamlConfig(file: string): LoadedYaml {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigurationError(`cannot read configuration file ${file}: ${reason}`, '', file, { kind: 'yaml', file, line: 0, column: 0 }, { cause: err });
  }
  return parseYamlConfig(text, file);
}

/** Parse YAML `text`; `file` is only used in positions and messages. */
export function parseYamlConfig(text: string, file: string): LoadedYaml {
  const lineCounter = new LineCounter();
  // uniqueKeys (the default) makes a repeated key an error rather than a silent "last one wins".
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });

  const first = doc.errors[0];
  if (first) {
    const at = first.linePos?.[0] ?? lineCounter.linePos(first.pos[0]);
    // yaml appends " at line L, column C:" and a source excerpt; the position is reported separately.
    const reason = (first.message.split('\n')[0] ?? first.message).replace(/ at line \d+, column \d+:?$/, '');
    throw new InvalidYaml(file, at.line, at.col, reason, { cause: first });
  }

  const position = (node: unknown): YamlPosition | undefined => {
    const range = (node as { range?: unknown } | null)?.range;
    if (!Array.isArray(range) || typeof range[0] !== 'number') return undefined;
    const { line, col } = lineCounter.linePos(range[0]);
    return { line, column: col };
  };

  const root = doc.contents;
  if (root !== null && !isMap(root)) {
    const at = position(root) ?? { line: 1, column: 1 };
    const what = isSeq(root) ? 'a list' : 'a single value';
    throw new InvalidYaml(file, at.line, at.column, `the top level must be a mapping of configuration keys, not ${what}`);
  }
  const data = root === null ? {} : (doc.toJS() as Record<string, unknown>);

  const locate = (path: KeyPath, part: 'key' | 'value' = 'key'): YamlPosition => {
    let node: unknown = root;
    let at = position(root) ?? { line: 1, column: 1 };
    for (const [i, segment] of path.entries()) {
      let next: unknown;
      if (isMap(node)) {
        // Keys compare as strings: toJS turns a key like `1:` into "1" too.
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(segment));
        if (!pair) break;
        at = position(pair.key) ?? at;
        next = pair.value;
        if (part === 'value' && i === path.length - 1) at = position(next) ?? at;
      } else if (isSeq(node) && typeof segment === 'number') {
        next = node.items[segment];
        if (next === undefined) break;
        at = position(next) ?? at;
      } else {
        break;
      }
      node = next;
    }
    return at;
  };

  return { file, data, locate };
}
