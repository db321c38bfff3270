/**
 * The configuration module: profile table, layer precedence with sources, named errors that say
 * where a bad value was written, strict environment parsing, and config.example.yaml staying in
 * step with the schema. Expected values are written out here, not read from the module under test.
 */
import { afterAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ArrowQuantError } from '../../common/errors.js';
import { FORMAT_FAMILIES } from '../../common/formats.js';
import {
  CONFIG_KEYS,
  ConfigSchema,
  ConfigurationError,
  ENV_VARIABLES,
  InvalidAccuracy,
  InvalidBitWidth,
  InvalidConfigValue,
  InvalidGroupSize,
  InvalidTimeGroups,
  InvalidYaml,
  METHODS,
  UnknownConfigKey,
  describeConfig,
  exampleConfigYaml,
  parseConfigText,
  parseYamlConfig,
  profileConfig,
  resolveConfig,
  type CliValues,
  type ConfigKey,
  type ResolvedConfig,
} from '../../common/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'arrowquant-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A temp YAML file holding `text`. */
function yamlFile(text: string): string {
  const path = join(dir, `config-${files++}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** The error `fn` throws, checked to be an instance of `cls`. */
function caught<T>(cls: abstract new (...args: never[]) => T, fn: () => unknown): T {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${cls.name}, nothing was thrown`);
}

const TABLE = {
  edge: { bit_width: 2, num_time_groups: 5, group_size: 256, enable_time_aware: true, enable_spatial: false, min_accuracy: 0.95, calibration_samples: 32, enable_streaming: true },
  local: { bit_width: 4, num_time_groups: 10, group_size: 128, enable_time_aware: true, enable_spatial: true, min_accuracy: 0.97, calibration_samples: 128, enable_streaming: false },
  cloud: { bit_width: 8, num_time_groups: 20, group_size: 64, enable_time_aware: true, enable_spatial: true, min_accuracy: 0.99, calibration_samples: 512, enable_streaming: false },
} as const;
const REST = {
  modality: null, fail_fast: false, num_threads: 0, method: 'auto', keep_default_rules: true, preserve: {}, overrides: [], chunk_mib: 16,
  calibration: null, gptq_damp: 0.01, gptq_act_order: false, components: {}, target_memory_gb: null, mix: null, gptq_format: null, imatrix: null, uniform_importance: false,
} as const;

// ---------------------------------------------------------------------------------------------
// Schema and profiles

test('the schema has the 26 keys, a description on each, and every method of the format registry', () => {
  assert.deepEqual([...CONFIG_KEYS].sort(), [
    'bit_width', 'calibration', 'calibration_samples', 'chunk_mib', 'components', 'deployment_profile', 'enable_spatial', 'enable_streaming', 'enable_time_aware', 'fail_fast',
    'gptq_act_order', 'gptq_damp', 'gptq_format', 'group_size', 'imatrix', 'keep_default_rules', 'method', 'min_accuracy', 'mix', 'modality', 'num_threads', 'num_time_groups', 'overrides', 'preserve',
    'target_memory_gb', 'uniform_importance',
  ]);
  for (const key of CONFIG_KEYS) assert.ok((ConfigSchema.shape[key].description ?? '').length > 20, `${key} has no description`);
  // The format methods come from the kernels' registry (common/formats.ts), then the algorithms.
  assert.deepEqual([...METHODS], [...FORMAT_FAMILIES.flatMap((f) => f.methods), 'gptq', 'auto']);
  for (const m of ['rtn', 'rtn_sym', 'hqq', 'r2q', 'nf4', 'fp8_e4m3', 'fp8_e5m2', 'q4_0', 'q8_0', 'int8_channel', 'fp8_e4m3_channel', 'q4_k', 'q6_k', 'q5_0']) {
    assert.ok(METHODS.includes(m), m);
  }
  assert.equal(new Set(METHODS).size, METHODS.length);
});

for (const profile of ['edge', 'local', 'cloud'] as const) {
  test(`profile ${profile} resolves to exactly the guide's table values`, () => {
    const expected = { ...REST, ...TABLE[profile], deployment_profile: profile };
    const { config, sources } = resolveConfig({ env: {}, cli: { deployment_profile: profile } });
    assert.deepEqual(config, expected);
    assert.deepEqual(profileConfig(profile), expected);
    for (const key of Object.keys(TABLE[profile])) assert.deepEqual(sources[key as ConfigKey], { kind: 'profile', profile }, key);
    for (const key of Object.keys(REST)) assert.deepEqual(sources[key as ConfigKey], { kind: 'default' }, key);
    assert.deepEqual(sources.deployment_profile, { kind: 'cli', flag: '--profile' });
  });
}

test('with nothing set the local profile applies, by default', () => {
  const { config, sources, warnings } = resolveConfig({ env: {} });
  assert.deepEqual(config, { ...REST, ...TABLE.local, deployment_profile: 'local' });
  assert.deepEqual(sources.deployment_profile, { kind: 'default' });
  assert.deepEqual(sources.bit_width, { kind: 'profile', profile: 'local' });
  assert.deepEqual(warnings, []);
});

// ---------------------------------------------------------------------------------------------
// Precedence

test('num_time_groups: cli beats env beats yaml beats profile', () => {
  const file = yamlFile('deployment_profile: cloud\nnum_time_groups: 30\n');
  const env = { ARROW_QUANT_NUM_TIME_GROUPS: '40' };

  let r = resolveConfig({ yamlPath: file, env, cli: { num_time_groups: 50 } });
  assert.equal(r.config.num_time_groups, 50);
  assert.deepEqual(r.sources.num_time_groups, { kind: 'cli', flag: '--num-time-groups' });

  r = resolveConfig({ yamlPath: file, env });
  assert.equal(r.config.num_time_groups, 40);
  assert.deepEqual(r.sources.num_time_groups, { kind: 'env', variable: 'ARROW_QUANT_NUM_TIME_GROUPS' });

  r = resolveConfig({ yamlPath: file, env: {} });
  assert.equal(r.config.num_time_groups, 30);
  assert.deepEqual(r.sources.num_time_groups, { kind: 'yaml', file, line: 2, column: 1 });

  r = resolveConfig({ yamlPath: yamlFile('deployment_profile: cloud\n'), env: {} });
  assert.equal(r.config.num_time_groups, 20);
  assert.deepEqual(r.sources.num_time_groups, { kind: 'profile', profile: 'cloud' });
});

test('fail_fast: cli beats env beats yaml beats default', () => {
  const file = yamlFile('fail_fast: true\n');
  const env = { ARROW_QUANT_FAIL_FAST: 'no' };
  const cases: [ReturnType<typeof resolveConfig>, boolean, unknown][] = [
    [resolveConfig({ yamlPath: file, env, cli: { fail_fast: true } }), true, { kind: 'cli', flag: '--fail-fast' }],
    [resolveConfig({ yamlPath: file, env }), false, { kind: 'env', variable: 'ARROW_QUANT_FAIL_FAST' }],
    [resolveConfig({ yamlPath: file, env: {} }), true, { kind: 'yaml', file, line: 1, column: 1 }],
    [resolveConfig({ env: {} }), false, { kind: 'default' }],
  ];
  for (const [i, [r, value, source]] of cases.entries()) {
    assert.equal(r.config.fail_fast, value, `case ${i}`);
    assert.deepEqual(r.sources.fail_fast, source, `case ${i}`);
  }
});

test('API values sit at the flag level: above env, below a flag for the same key', () => {
  const env = { ARROW_QUANT_NUM_TIME_GROUPS: '40', ARROW_QUANT_METHOD: 'nf4' };
  let r = resolveConfig({ env, api: { num_time_groups: 60, method: 'q4_0' } });
  assert.equal(r.config.num_time_groups, 60);
  assert.equal(r.config.method, 'q4_0');
  assert.deepEqual(r.sources.method, { kind: 'api' });

  r = resolveConfig({ env, api: { num_time_groups: 60 }, cli: { num_time_groups: 50 } });
  assert.equal(r.config.num_time_groups, 50);
  assert.deepEqual(r.sources.num_time_groups, { kind: 'cli', flag: '--num-time-groups' });
  assert.equal(r.config.method, 'nf4'); // api did not set it, so env still applies
});

test('an undefined option is not a value: it does not hide a lower layer', () => {
  const r = resolveConfig({ env: { ARROW_QUANT_BIT_WIDTH: '8' }, cli: { bit_width: undefined }, api: { bit_width: undefined } });
  assert.equal(r.config.bit_width, 8);
  assert.deepEqual(r.sources.bit_width, { kind: 'env', variable: 'ARROW_QUANT_BIT_WIDTH' });
});

test('string flag values are parsed strictly, with custom flag names in sources', () => {
  const r = resolveConfig({ env: {}, cli: { bit_width: '8', enable_spatial: 'no' }, cliFlags: { bit_width: '-b' } });
  assert.equal(r.config.bit_width, 8);
  assert.equal(r.config.enable_spatial, false);
  assert.deepEqual(r.sources.bit_width, { kind: 'cli', flag: '-b' });
  const err = caught(InvalidBitWidth, () => resolveConfig({ env: {}, cli: { bit_width: '4.5' }, cliFlags: { bit_width: '-b' } }));
  assert.equal(String(err), 'InvalidBitWidth: bit_width = "4.5" (command-line flag -b): must be 2, 4 or 8');
});

test('the profile is chosen by the same precedence: flag > env > yaml > local', () => {
  const file = yamlFile('deployment_profile: edge\n');
  const pick = (opts: Parameters<typeof resolveConfig>[0]) => {
    const r = resolveConfig(opts);
    return [r.config.deployment_profile, r.config.bit_width, r.sources.bit_width];
  };
  assert.deepEqual(pick({ yamlPath: file, env: {} }), ['edge', 2, { kind: 'profile', profile: 'edge' }]);
  assert.deepEqual(pick({ yamlPath: file, env: { ARROW_QUANT_DEPLOYMENT_PROFILE: 'cloud' } }), ['cloud', 8, { kind: 'profile', profile: 'cloud' }]);
  assert.deepEqual(pick({ yamlPath: file, env: { ARROW_QUANT_DEPLOYMENT_PROFILE: 'cloud' }, cli: { deployment_profile: 'local' } }), [
    'local',
    4,
    { kind: 'profile', profile: 'local' },
  ]);
  assert.deepEqual(pick({ env: { ARROW_QUANT_DEPLOYMENT_PROFILE: 'cloud' }, api: { deployment_profile: 'edge' } }), ['edge', 2, { kind: 'profile', profile: 'edge' }]);
  // An explicit key still beats the chosen profile's preset.
  const pinned = yamlFile('deployment_profile: edge\nbit_width: 8\n');
  assert.deepEqual(pick({ yamlPath: pinned, env: {} }), ['edge', 8, { kind: 'yaml', file: pinned, line: 2, column: 1 }]);
});

test('a higher layer replaces preserve and overrides whole', () => {
  const file = yamlFile("preserve:\n  'norm': float32\noverrides:\n  - pattern: 'a'\n    bit_width: 8\n");
  const fromYaml = resolveConfig({ yamlPath: file, env: {} }).config;
  assert.deepEqual(fromYaml.preserve, { norm: 'float32' });
  assert.deepEqual(fromYaml.overrides, [{ pattern: 'a', bit_width: 8 }]);
  const r = resolveConfig({ yamlPath: file, env: {}, api: { preserve: { embed: 'source' }, overrides: [] } });
  assert.deepEqual(r.config.preserve, { embed: 'source' });
  assert.deepEqual(r.config.overrides, []);
  assert.deepEqual(r.sources.preserve, { kind: 'api' });
});

// ---------------------------------------------------------------------------------------------
// Named errors

test('InvalidBitWidth names the YAML file and line, even when a flag overrides the value', () => {
  const file = yamlFile('# my settings\ndeployment_profile: edge\nmethod: rtn\nbit_width: 3\n');
  for (const cli of [undefined, { bit_width: 4 } as CliValues]) {
    const err = caught(InvalidBitWidth, () => resolveConfig({ yamlPath: file, env: {}, ...(cli ? { cli } : {}) }));
    assert.ok(err instanceof ConfigurationError && err instanceof ArrowQuantError);
    assert.equal(err.name, 'InvalidBitWidth');
    assert.equal(err.field, 'bit_width');
    assert.equal(err.value, 3);
    assert.deepEqual(err.source, { kind: 'yaml', file, line: 4, column: 1 });
    assert.equal(String(err), `InvalidBitWidth: bit_width = 3 (${file} line 4): must be 2, 4 or 8`);
  }
});

test('InvalidTimeGroups names the environment variable', () => {
  for (const [raw, value] of [['0', 0], ['150', 150]] as const) {
    const err = caught(InvalidTimeGroups, () => resolveConfig({ env: { ARROW_QUANT_NUM_TIME_GROUPS: raw } }));
    assert.equal(err.name, 'InvalidTimeGroups');
    assert.equal(err.value, value);
    assert.deepEqual(err.source, { kind: 'env', variable: 'ARROW_QUANT_NUM_TIME_GROUPS' });
    assert.equal(String(err), `InvalidTimeGroups: num_time_groups = ${raw} (environment variable ARROW_QUANT_NUM_TIME_GROUPS): must be an integer from 1 to 100`);
  }
});

test('InvalidGroupSize names the flag', () => {
  const err = caught(InvalidGroupSize, () => resolveConfig({ env: {}, cli: { group_size: 100 as never } }));
  assert.equal(err.name, 'InvalidGroupSize');
  assert.equal(err.value, 100);
  assert.deepEqual(err.source, { kind: 'cli', flag: '--group-size' });
  assert.equal(String(err), 'InvalidGroupSize: group_size = 100 (command-line flag --group-size): must be 32, 64, 128 or 256');
});

test('InvalidAccuracy from the API, YAML and environment', () => {
  let err = caught(InvalidAccuracy, () => resolveConfig({ env: {}, api: { min_accuracy: 1.5 } }));
  assert.equal(err.name, 'InvalidAccuracy');
  assert.equal(err.value, 1.5);
  assert.deepEqual(err.source, { kind: 'api' });
  assert.equal(String(err), 'InvalidAccuracy: min_accuracy = 1.5 (API option): must be a number from 0 to 1');

  const file = yamlFile('\n\nmin_accuracy: -0.1\n');
  err = caught(InvalidAccuracy, () => resolveConfig({ yamlPath: file, env: {} }));
  assert.equal(err.value, -0.1);
  assert.deepEqual(err.source, { kind: 'yaml', file, line: 3, column: 1 });

  err = caught(InvalidAccuracy, () => resolveConfig({ env: { ARROW_QUANT_MIN_ACCURACY: '0.7x' } }));
  assert.equal(err.value, '0.7x');
  assert.deepEqual(err.source, { kind: 'env', variable: 'ARROW_QUANT_MIN_ACCURACY' });
});

test('InvalidConfigValue for the other fields', () => {
  const cases: [string, string, unknown, number][] = [
    ['method: rtn3\n', 'method', 'rtn3', 1],
    ['bit_width: 4\nmodality: video\n', 'modality', 'video', 2],
    ['chunk_mib: 0\n', 'chunk_mib', 0, 1],
    ['chunk_mib: 2048\n', 'chunk_mib', 2048, 1],
    ['num_threads: -1\n', 'num_threads', -1, 1],
    ['calibration_samples: 0\n', 'calibration_samples', 0, 1],
    ['enable_spatial: "yes"\n', 'enable_spatial', 'yes', 1],
    ['preserve:\n  norm: int8\n', 'preserve.norm', 'int8', 2],
    ['overrides: {}\n', 'overrides', {}, 1],
  ];
  for (const [text, field, value, line] of cases) {
    const file = yamlFile(text);
    const err = caught(InvalidConfigValue, () => resolveConfig({ yamlPath: file, env: {} }));
    assert.equal(err.name, 'InvalidConfigValue', text);
    assert.equal(err.field, field, text);
    assert.deepEqual(err.value, value, text);
    assert.equal(err.source.kind === 'yaml' && err.source.line, line, text);
    assert.match(String(err), /^InvalidConfigValue: .* line \d+\): must be /, text);
  }
});

test('errors inside overrides name the entry, pick the named class and locate the line', () => {
  const file = yamlFile("overrides:\n  - pattern: 'a'\n    bit_width: 8\n  - pattern: 'b'\n    bit_width: 3\n");
  const err = caught(InvalidBitWidth, () => resolveConfig({ yamlPath: file, env: {} }));
  assert.equal(err.field, 'overrides[1].bit_width');
  assert.deepEqual(err.source, { kind: 'yaml', file, line: 5, column: 5 });
  assert.equal(String(err), `InvalidBitWidth: overrides[1].bit_width = 3 (${file} line 5): must be 2, 4 or 8`);

  const gs = caught(InvalidGroupSize, () => resolveConfig({ yamlPath: yamlFile("overrides:\n  - pattern: 'a'\n    group_size: 100\n"), env: {} }));
  assert.equal(gs.field, 'overrides[0].group_size');

  const missing = caught(InvalidConfigValue, () => resolveConfig({ yamlPath: yamlFile('overrides:\n  - bit_width: 8\n'), env: {} }));
  assert.equal(missing.field, 'overrides[0].pattern');
  assert.match(missing.message, /^overrides\[0\]\.pattern \(.* line 2\): is required$/);
});

test('UnknownConfigKey suggests the nearest key', () => {
  const file = yamlFile('deployment_profile: local\nbitwidth: 4\n');
  const err = caught(UnknownConfigKey, () => resolveConfig({ yamlPath: file, env: {} }));
  assert.equal(err.name, 'UnknownConfigKey');
  assert.equal(err.field, 'bitwidth');
  assert.equal(err.value, 4);
  assert.equal(err.suggestion, 'bit_width');
  assert.deepEqual(err.source, { kind: 'yaml', file, line: 2, column: 1 });
  assert.equal(String(err), `UnknownConfigKey: "bitwidth" (${file} line 2) is not a configuration key; did you mean "bit_width"?`);

  const far = caught(UnknownConfigKey, () => resolveConfig({ yamlPath: yamlFile('colour: red\n'), env: {} }));
  assert.equal(far.suggestion, undefined);
  assert.ok(far.message.endsWith('is not a configuration key'), far.message);

  const nested = caught(UnknownConfigKey, () => resolveConfig({ yamlPath: yamlFile("overrides:\n  - pattern: 'a'\n    groupsize: 64\n"), env: {} }));
  assert.equal(nested.field, 'overrides[0].groupsize');
  assert.equal(nested.suggestion, 'group_size');
  assert.equal(nested.source.kind === 'yaml' && nested.source.line, 3);

  const affix = caught(UnknownConfigKey, () => resolveConfig({ env: {}, api: { threads: 4 } as never }));
  assert.equal(affix.suggestion, 'num_threads');
  assert.deepEqual(affix.source, { kind: 'api' });

  const flag = caught(UnknownConfigKey, () => resolveConfig({ env: {}, cli: { bitwidth: 4 } as never }));
  assert.deepEqual(flag.source, { kind: 'cli', flag: '--bitwidth' });
});

test('invalid YAML syntax is InvalidYaml naming the file, line and column', () => {
  const cases: [string, number, number, RegExp][] = [
    ['bit_width: 4\nmethod: [rtn\n', 3, 1, /Flow sequence/],
    ['bit_width: 4\nbit_width: 8\n', 2, 1, /unique/],
    ['bit_width: 4\n  group_size: 8\n', 1, 12, /Nested mappings/],
  ];
  for (const [text, line, column, reason] of cases) {
    const file = yamlFile(text);
    const err = caught(InvalidYaml, () => resolveConfig({ yamlPath: file, env: {} }));
    assert.equal(err.name, 'InvalidYaml');
    assert.deepEqual([err.file, err.line, err.column], [file, line, column], text);
    assert.deepEqual(err.source, { kind: 'yaml', file, line, column });
    assert.ok(err.message.startsWith(`${file} line ${line}, column ${column}: `), err.message);
    assert.match(err.message, reason);
  }
});

test('a YAML top level that is not a mapping is InvalidYaml; an empty file is an empty layer', () => {
  const list = caught(InvalidYaml, () => resolveConfig({ yamlPath: yamlFile('- bit_width: 4\n'), env: {} }));
  assert.match(list.message, /top level must be a mapping of configuration keys, not a list/);
  const scalar = caught(InvalidYaml, () => resolveConfig({ yamlPath: yamlFile('4\n'), env: {} }));
  assert.match(scalar.message, /not a single value/);
  const empty = resolveConfig({ yamlPath: yamlFile('# nothing yet\n'), env: {} });
  assert.equal(empty.config.bit_width, 4);
  const missing = caught(ConfigurationError, () => resolveConfig({ yamlPath: join(dir, 'absent.yaml'), env: {} }));
  assert.equal(missing.name, 'ConfigurationError');
  assert.match(missing.message, /cannot read configuration file .*absent\.yaml/);
});

test('bad regular expressions in preserve and overrides name the key and its line', () => {
  const file = yamlFile("preserve:\n  'norm': float32\n  '(x': source\n");
  const err = caught(InvalidConfigValue, () => resolveConfig({ yamlPath: file, env: {} }));
  assert.equal(err.field, 'preserve["(x"]');
  assert.equal(err.value, '(x');
  assert.deepEqual(err.source, { kind: 'yaml', file, line: 3, column: 3 });
  assert.equal(String(err), `InvalidConfigValue: preserve key "(x" (${file} line 3): must be a valid regular expression (Unterminated group)`);

  const ofile = yamlFile("overrides:\n  - pattern: 'a'\n    bit_width: 8\n  - pattern: '[a'\n    bit_width: 8\n");
  const oerr = caught(InvalidConfigValue, () => resolveConfig({ yamlPath: ofile, env: {} }));
  assert.equal(oerr.field, 'overrides[1].pattern');
  assert.equal(oerr.value, '[a');
  assert.deepEqual(oerr.source, { kind: 'yaml', file: ofile, line: 4, column: 5 });
  assert.match(String(oerr), /^InvalidConfigValue: overrides\[1\]\.pattern = "\[a" \(.* line 4\): must be a valid regular expression \(.+\)$/);
});

// ---------------------------------------------------------------------------------------------
// Environment parsing

test('integer variables refuse non-integers, naming the variable', () => {
  for (const raw of ['4.5', 'abc', '', '0x4', '4 4']) {
    const err = caught(InvalidBitWidth, () => resolveConfig({ env: { ARROW_QUANT_BIT_WIDTH: raw } }));
    assert.equal(err.value, raw);
    assert.deepEqual(err.source, { kind: 'env', variable: 'ARROW_QUANT_BIT_WIDTH' });
    assert.ok(String(err).includes('(environment variable ARROW_QUANT_BIT_WIDTH)'), String(err));
  }
  const threads = caught(InvalidConfigValue, () => resolveConfig({ env: { ARROW_QUANT_NUM_THREADS: '4.5' } }));
  assert.equal(String(threads), 'InvalidConfigValue: num_threads = "4.5" (environment variable ARROW_QUANT_NUM_THREADS): must be an integer of at least 0 (0 = all cores)');
  assert.equal(resolveConfig({ env: { ARROW_QUANT_BIT_WIDTH: ' 8 ' } }).config.bit_width, 8);
});

test('boolean variables accept true/false, 1/0, yes/no in any case, and nothing else', () => {
  const env = (raw: string) => ({ ARROW_QUANT_ENABLE_STREAMING: raw });
  for (const raw of ['true', 'TRUE', '1', 'yes', 'Yes']) assert.equal(resolveConfig({ env: env(raw) }).config.enable_streaming, true, raw);
  for (const raw of ['false', 'False', '0', 'no', 'NO']) {
    assert.equal(resolveConfig({ env: { ...env(raw), ARROW_QUANT_DEPLOYMENT_PROFILE: 'edge' } }).config.enable_streaming, false, raw);
  }
  for (const raw of ['maybe', '', 'on', '2']) {
    const err = caught(InvalidConfigValue, () => resolveConfig({ env: env(raw) }));
    assert.equal(err.field, 'enable_streaming');
    assert.deepEqual(err.source, { kind: 'env', variable: 'ARROW_QUANT_ENABLE_STREAMING' });
    assert.match(String(err), /ARROW_QUANT_ENABLE_STREAMING\): must be true or false/);
  }
});

test('every variable is read, including the profile, modality, method and feature switches', () => {
  const env = {
    ARROW_QUANT_DEPLOYMENT_PROFILE: 'cloud',
    ARROW_QUANT_BIT_WIDTH: '2',
    ARROW_QUANT_METHOD: 'rtn_sym',
    ARROW_QUANT_GROUP_SIZE: '32',
    ARROW_QUANT_MODALITY: 'image',
    ARROW_QUANT_NUM_TIME_GROUPS: '7',
    ARROW_QUANT_ENABLE_TIME_AWARE: 'false',
    ARROW_QUANT_ENABLE_SPATIAL: '0',
    ARROW_QUANT_MIN_ACCURACY: '.7',
    ARROW_QUANT_CALIBRATION_SAMPLES: '64',
    ARROW_QUANT_FAIL_FAST: 'yes',
    ARROW_QUANT_NUM_THREADS: '3',
    ARROW_QUANT_ENABLE_STREAMING: 'true',
    ARROW_QUANT_MIX: 'q4_k_m',
    ARROW_QUANT_IMATRIX: 'model.imatrix.gguf',
  };
  const { config, sources } = resolveConfig({ env });
  const expected: Partial<ResolvedConfig> = {
    deployment_profile: 'cloud', bit_width: 2, method: 'rtn_sym', group_size: 32, modality: 'image', num_time_groups: 7, enable_time_aware: false,
    enable_spatial: false, min_accuracy: 0.7, calibration_samples: 64, fail_fast: true, num_threads: 3, enable_streaming: true, mix: 'q4_k_m',
    imatrix: 'model.imatrix.gguf',
  };
  assert.equal(Object.keys(ENV_VARIABLES).length, 17);
  for (const [key, value] of Object.entries(expected)) {
    assert.equal(config[key as ConfigKey], value, key);
    assert.deepEqual(sources[key as ConfigKey], { kind: 'env', variable: `ARROW_QUANT_${key.toUpperCase()}` }, key);
  }
  assert.equal(resolveConfig({ env: { ARROW_QUANT_MODALITY: 'auto' }, api: { modality: 'text' } }).config.modality, 'text');
  assert.equal(parseConfigText('modality', 'null', { kind: 'api' }), null);
  const bad = caught(InvalidConfigValue, () => resolveConfig({ env: { ARROW_QUANT_MODALITY: 'video' } }));
  assert.deepEqual(bad.source, { kind: 'env', variable: 'ARROW_QUANT_MODALITY' });
});

test('a misspelt ARROW_QUANT_ variable is a warning; unrelated ones are left alone', () => {
  const { warnings, config } = resolveConfig({ env: { ARROW_QUANT_BIT_WIDHT: '8', ARROW_QUANT_LOG: 'debug' } });
  assert.deepEqual(warnings, ['environment variable ARROW_QUANT_BIT_WIDHT is not used; did you mean ARROW_QUANT_BIT_WIDTH?']);
  assert.equal(config.bit_width, 4);
});

// ---------------------------------------------------------------------------------------------
// YAML positions and describeConfig

test('parseYamlConfig locates keys and values of nested paths', () => {
  const y = parseYamlConfig("bit_width: 4\noverrides:\n  - pattern: 'a'\n    bit_width:   8\n", 'x.yaml');
  assert.deepEqual(y.data, { bit_width: 4, overrides: [{ pattern: 'a', bit_width: 8 }] });
  assert.deepEqual(y.locate(['overrides', 0, 'bit_width']), { line: 4, column: 5 });
  assert.deepEqual(y.locate(['overrides', 0, 'bit_width'], 'value'), { line: 4, column: 18 });
  assert.deepEqual(y.locate(['overrides', 0]), { line: 3, column: 5 });
  assert.deepEqual(y.locate(['overrides', 5, 'pattern']), { line: 2, column: 1 }, 'a missing item locates its list');
});

test('describeConfig lists every key with its value and source', () => {
  const file = yamlFile('\nmethod: nf4\n');
  const text = describeConfig(resolveConfig({ yamlPath: file, env: { ARROW_QUANT_BIT_WIDTH: '8' } }));
  const lines = text.split('\n');
  assert.equal(lines.length, 26);
  assert.match(lines.find((l) => l.startsWith('method '))!, /^method +"nf4" +\(.*line 2\)$/);
  assert.match(lines.find((l) => l.startsWith('bit_width '))!, /^bit_width +8 +\(environment variable ARROW_QUANT_BIT_WIDTH\)$/);
  assert.match(lines.find((l) => l.startsWith('group_size '))!, /^group_size +128 +\(profile "local"\)$/);
  assert.match(lines.find((l) => l.startsWith('modality '))!, /^modality +null +\(default\)$/);
});

// ---------------------------------------------------------------------------------------------
// config.example.yaml

/** The checked-in example: in the nearest directory above this test that has one (source or dist). */
function examplePath(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); dirname(d) !== d; d = dirname(d)) {
    if (existsSync(join(d, 'config.example.yaml'))) return join(d, 'config.example.yaml');
  }
  return join(process.cwd(), 'config.example.yaml');
}

/** Remove the "#" from the commented-out settings: `#key: ...` and the `#  ...` lines that follow. */
function uncommentSettings(text: string): string {
  let inSetting = false;
  return text
    .split('\n')
    .map((line) => {
      inSetting = /^#[a-z_]+:/.test(line) || (inSetting && line.startsWith('#  '));
      return inSetting ? line.slice(1) : line;
    })
    .join('\n');
}

test('config.example.yaml is the generated text, documenting every key', () => {
  const text = readFileSync(examplePath(), 'utf8');
  assert.equal(text, exampleConfigYaml(), 'config.example.yaml is stale: regenerate it with node dist/common/config/example.js');
  for (const key of CONFIG_KEYS) {
    assert.match(text, new RegExp(`^# ${key}: \\S`, 'm'), `${key} is not documented`);
    assert.match(text, new RegExp(`^#?${key}:`, 'm'), `${key} has no setting line`);
  }
  assert.match(text, /^# Valid: 2, 4 or 8\. *$/m);
  assert.match(text, /^# Profiles: edge 2, local 4, cloud 8\.$/m);
  assert.match(text, /^# Environment: ARROW_QUANT_NUM_TIME_GROUPS\.$/m);
  assert.match(text, /^#   enable_streaming +true +false +false$/m);
});

test('config.example.yaml resolves as is, and with every setting uncommented', () => {
  const text = readFileSync(examplePath(), 'utf8');
  const asIs = yamlFile(text);
  const r = resolveConfig({ yamlPath: asIs, env: {} });
  assert.deepEqual(r.config, { ...REST, ...TABLE.local, deployment_profile: 'local' });
  assert.equal(r.sources.deployment_profile.kind, 'yaml');
  assert.equal(r.sources.bit_width.kind, 'profile');

  const uncommented = uncommentSettings(text);
  assert.notEqual(uncommented, text);
  const all = resolveConfig({ yamlPath: yamlFile(uncommented), env: {} });
  for (const key of CONFIG_KEYS) assert.equal(all.sources[key].kind, 'yaml', `${key} has no valid setting line`);
  assert.deepEqual({ ...all.config, preserve: {}, overrides: [], components: {} }, { ...REST, ...TABLE.local, deployment_profile: 'local' });
  assert.deepEqual(all.config.components, { transformer: { bit_width: 4 }, text_encoder: { method: 'q8_0' }, vae: 'keep' });
  assert.deepEqual(all.config.preserve, { '^time_embed(ding)?\\.': 'source', 'pos_embed$': 'float16' });
  assert.deepEqual(all.config.overrides, [
    { pattern: '\\.(v_proj|to_v)\\.weight$', bit_width: 8 },
    { pattern: '\\.(down_proj|ff\\.net\\.2)\\.weight$', bit_width: 8 },
    { pattern: '^context_embedder\\.weight$', quantize: true, bit_width: 8 },
  ]);
  assert.ok(new RegExp(all.config.overrides[1]!.pattern).test('blocks.0.ff.net.2.weight'));
});
