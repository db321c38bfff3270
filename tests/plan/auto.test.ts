/**
 * `method: auto` (the default): the strategy table at the bit width, per modality, with and
 * without a layer's calibration Hessian, for rows that split into 256-value super-blocks, into
 * 32-value blocks only, and into neither; never fewer bits than asked; the row named in each
 * tensor's reason and in the plan.
 */
import assert from 'node:assert/strict';
import { test } from 'vitest';

import { BIT_WIDTHS, DEFAULTS, MODALITIES, profileConfig, type BitWidth, type Modality, type ResolvedConfig } from '../../common/config/index.js';
import { describeFormat } from '../../common/formats.js';
import type { CalibrationFile, LayerStats } from '../../coordinator/calibration/file.js';
import type { ImportanceMatrix } from '../../coordinator/calibration/imatrix.js';
import type { TensorEntry } from '../../coordinator/model/safetensors.js';
import { fakeModel } from './model.js';
import { planModel, type PlanContext } from '../../coordinator/plan/plan.js';
import { entryFormat, STRATEGY_TABLE } from '../../coordinator/plan/strategy.js';

/** Row lengths: whole super-blocks of 256, whole blocks of 32 only, neither. */
const FITS_256 = 512;
const FITS_32 = 384;
const FITS_NONE = 144;

const TENSORS: [string, number[]][] = [
  ['blocks.0.attn.to_q.weight', [256, FITS_256]],
  ['blocks.0.attn.to_k.weight', [256, FITS_32]],
  ['blocks.0.attn.to_v.weight', [256, FITS_NONE]],
];

function entry(name: string, cols: number, what: 'hessian' | 'act_absmax' | 'act_range', begin: number): TensorEntry {
  const shape = what === 'hessian' ? [cols, cols] : [1, cols];
  return { name: `${name}.${what}`, dtype: 'F32', shape, begin, end: begin + shape[0]! * shape[1]! * 4 };
}

/** A calibration file with a Hessian (and activation statistics) for every tensor. */
function calibration(withHessian = true): CalibrationFile {
  const layers = new Map<string, LayerStats>();
  for (const [name, shape] of TENSORS) {
    const prefix = name.slice(0, -'.weight'.length);
    const cols = shape[1]!;
    layers.set(prefix, {
      prefix,
      inFeatures: cols,
      ...(withHessian ? { hessian: entry(prefix, cols, 'hessian', 0) } : {}),
      act_absmax: entry(prefix, cols, 'act_absmax', 0),
      act_range: entry(prefix, cols, 'act_range', 0),
    });
  }
  return { path: 'calib.safetensors', bytes: 0, nsamples: 8, timestepGroups: [[0, 1000]], layers };
}

function plan(config: Partial<ResolvedConfig>, ctx: Partial<PlanContext> & { modality: Modality }, tensors = TENSORS) {
  const { file, header } = fakeModel(tensors.map(([name, shape]) => [name, 'BF16', shape] as const));
  const p = planModel([{ file, header }], { ...profileConfig('local'), ...config }, ctx);
  const by = Object.fromEntries(p.tensors.map((t) => [t.name, t]));
  return { by, plan: p };
}

type Planned = ReturnType<typeof plan>['by'][string];
/** `method scheme` of the first rung, "+imp" where it uses importance, "+smooth" where it smooths; `keep` when kept. */
function got(t: Planned | undefined): string {
  if (t?.action.kind !== 'quantize') return `keep:${t?.action.rule}`;
  const a = t.action;
  const c = a.ladder[0]!;
  return `${c.method === 'gptq' ? 'gptq→' : ''}${c.scheme}${a.importance ? '+imp' : ''}${a.layer?.smoothing ? '+smooth' : ''}${a.layer?.timeAware ? '+time' : ''}`;
}
const schemes = (r: ReturnType<typeof plan>) => TENSORS.map(([n]) => got(r.by[n]));

test('the default method is auto', () => {
  assert.equal(DEFAULTS.method, 'auto');
  assert.equal(profileConfig('local').method, 'auto');
});

test('auto at 4 bits, every modality: Q4_K where rows fit; without a Hessian Q4_0 for rows of 32s, HQQ INT4 g128 for the rest; with one GPTQ (onto Q4_K, else HQQ/RTN INT4 g128)', () => {
  for (const modality of MODALITIES) {
    const text = modality === 'text' || modality === 'code';
    const plain = plan({ bit_width: 4 }, { modality });
    assert.deepEqual(schemes(plain), ['q4_k', 'q4_0', 'hqq_int4_g128'], modality);
    const cal = plan({ bit_width: 4 }, { modality, calibration: calibration() });
    // Text: GPTQ onto HQQ INT4 g128, time-aware activation ranges; image/audio: GPTQ onto RTN INT4
    // g128, smoothed (GGUF formats carry no smoothing).
    const rest = text ? ['gptq→hqq_int4_g128+time', 'gptq→hqq_int4_g128+time'] : ['gptq→rtn_int4_g128_asym+smooth', 'gptq→rtn_int4_g128_asym+smooth'];
    assert.deepEqual(schemes(cal), [`gptq→q4_k${text ? '+time' : ''}`, ...rest], modality);
    // A calibration file without Hessians: the row without one (no importance to take).
    const noH = plan({ bit_width: 4 }, { modality, calibration: calibration(false) });
    assert.deepEqual(noH.plan.tensors.map((x) => x.action.kind === 'quantize' && x.action.ladder[0]!.scheme), ['q4_k', 'q4_0', 'hqq_int4_g128'], modality);
  }
});

test('auto at 4 bits with an imatrix: importance for Q4_K and Q4_0', () => {
  const imatrix: ImportanceMatrix = {
    path: 'x.imatrix',
    format: 'gguf',
    datasets: [],
    entries: new Map(TENSORS.map(([n, s]) => [n, new Float32Array(s[1]!).fill(1)])),
  };
  const r = plan({ bit_width: 4 }, { modality: 'text', imatrix });
  assert.deepEqual(schemes(r), ['q4_k+imp', 'q4_0+imp', 'hqq_int4_g128']);
  assert.match(r.by['blocks.0.attn.to_q.weight']!.action.reason, /auto \(text, 4-bit, not calibrated\): q4_k\+importance; rows not \/256: q4_0\+importance; rows not \/32: hqq_int4_g128/);
});

test('auto at 8 bits: Q8_0 (HQQ INT8 g128 for rows that are not whole 32s); with a Hessian GPTQ onto RTN INT8 g128', () => {
  for (const modality of MODALITIES) {
    const ladder0 = (r: ReturnType<typeof plan>) => r.plan.tensors.map((t) => t.action.kind === 'quantize' && `${t.action.ladder[0]!.method}:${t.action.ladder[0]!.scheme}`);
    assert.deepEqual(ladder0(plan({ bit_width: 8 }, { modality })), ['q8_0:q8_0', 'q8_0:q8_0', 'hqq:hqq_int8_g128'], modality);
    assert.deepEqual(ladder0(plan({ bit_width: 8 }, { modality, calibration: calibration() })), Array(3).fill('gptq:rtn_int8_g128_asym'), modality);
  }
});

test('auto at 2 bits: text/code residual 2-bit (GPTQ onto R2Q with a Hessian) at group_size, time-aware', () => {
  for (const modality of ['text', 'code'] as const) {
    assert.deepEqual(schemes(plan({ bit_width: 2 }, { modality })), ['r2q_g128', 'r2q_g128', 'r2q_g128']);
    assert.deepEqual(schemes(plan({ bit_width: 2 }, { modality, calibration: calibration() })), ['gptq→r2q_g128+time', 'gptq→r2q_g128+time', 'gptq→r2q_g128+time']);
  }
  // The edge profile is the seeds' INT2: residual 2-bit in groups of 256.
  const edge = planModel(
    [{ file: { path: 'm.safetensors', rel: 'm.safetensors' }, header: { path: 'm.safetensors', fileBytes: 0, dataStart: 8, metadata: {}, tensors: [{ name: 'a.weight', dtype: 'BF16', shape: [64, 512], begin: 8, end: 8 + 64 * 512 * 2 }] } }],
    profileConfig('edge'),
    { modality: 'text' },
  );
  const a = edge.tensors[0]!.action;
  assert.equal(a.kind === 'quantize' && a.ladder[0]!.scheme, 'r2q_g256');
});

test('auto at 2 bits: image/audio Q2_K where rows fit (GPTQ onto it with a Hessian), R2Q for the rest (GPTQ onto it and smoothed where calibrated)', () => {
  for (const modality of ['image', 'audio'] as const) {
    assert.deepEqual(schemes(plan({ bit_width: 2 }, { modality })), ['q2_k', 'r2q_g128', 'r2q_g128']);
    assert.deepEqual(schemes(plan({ bit_width: 2 }, { modality, calibration: calibration() })), ['gptq→q2_k', 'gptq→r2q_g128+smooth', 'gptq→r2q_g128+smooth']);
    // group_size sets R2Q's groups (the edge profile's 256: 2.25 bits/weight)
    assert.deepEqual(schemes(plan({ bit_width: 2, group_size: 256 }, { modality })), ['q2_k', 'r2q_g256', 'r2q_g256']);
  }
});

test('auto never delivers fewer bits than asked: every format of every row, at every width', () => {
  for (const modality of MODALITIES) {
    for (const bits of BIT_WIDTHS) {
      for (const which of ['hessian', 'plain'] as const) {
        const row = STRATEGY_TABLE[modality].rows[bits][which];
        assert.ok(row.length > 0);
        // The last format fits any row, so no tensor is kept for its row length.
        assert.equal(entryFormat(row.at(-1)!, bits, 128).rowMultiple, 1, `${modality} ${bits} ${which}`);
        for (const f of row) {
          for (const g of [32, 64, 128, 256]) {
            const d = entryFormat(f, bits, g);
            assert.ok(d.bits >= bits, `${modality} ${bits}-bit ${which}: ${d.scheme} stores ${d.bits} bits`);
            // and the planned ladder climbs from there
            for (const rung of d.fallback) assert.ok(describeFormat(rung).bits >= bits);
          }
        }
      }
      // Planned, with odd row lengths too.
      for (const cal of [undefined, calibration()]) {
        const r = plan({ bit_width: bits as BitWidth }, { modality, ...(cal ? { calibration: cal } : {}) });
        for (const t of r.plan.tensors) {
          assert.ok(t.action.kind === 'quantize', `${modality} ${bits}: ${t.name} kept`);
          if (t.action.kind === 'quantize') {
            assert.ok(t.action.requestedBits >= bits, `${modality} ${bits}: ${t.name} gets ${t.action.requestedBits}`);
            for (const c of t.action.ladder) assert.ok(c.bits >= bits);
          }
        }
      }
    }
  }
});

test('the reason and the plan name the row used', () => {
  const r = plan({ bit_width: 4 }, { modality: 'text', calibration: calibration() });
  const row = 'auto (text, 4-bit, calibrated): gptq→q4_k; rows not /256: gptq→hqq_int4_g128';
  assert.equal(r.by['blocks.0.attn.to_q.weight']!.action.reason, `default; ${row}`);
  assert.equal(r.by['blocks.0.attn.to_k.weight']!.action.reason, `default; ${row}; rows of 384: gptq→hqq_int4_g128`);
  assert.equal(r.by['blocks.0.attn.to_v.weight']!.action.reason, `default; ${row}; rows of 144: gptq→hqq_int4_g128`);
  assert.deepEqual(r.plan.autoRows, { [row]: 3 });
  const plain = plan({ bit_width: 4 }, { modality: 'audio' });
  assert.equal(plain.by['blocks.0.attn.to_k.weight']!.action.reason, 'default; auto (audio, 4-bit, not calibrated): q4_k; rows not /256: q4_0; rows not /32: hqq_int4_g128; rows of 384: q4_0');

  const image = plan({ bit_width: 2 }, { modality: 'image' });
  assert.deepEqual(image.plan.autoRows, { 'auto (image, 2-bit, not calibrated): q2_k; rows not /256: r2q_g128': 3 });
  // A layer the calibration file does not cover takes the row without a Hessian, with a warning.
  const partial = calibration();
  partial.layers.delete('blocks.0.attn.to_q');
  const p = plan({ bit_width: 4 }, { modality: 'image', calibration: partial });
  assert.deepEqual(Object.values(p.plan.autoRows).sort(), [1, 2]);
  assert.equal(got(p.by['blocks.0.attn.to_q.weight']), 'q4_k');
  assert.deepEqual(p.plan.calibrationWarnings, [{ tensor: 'blocks.0.attn.to_q.weight', message: "no calibration Hessian for this layer in calib.safetensors; quantized with q4_k (auto's row without a Hessian)" }]);
  // An explicit method plans no row.
  assert.deepEqual(plan({ method: 'rtn' }, { modality: 'text' }).plan.autoRows, {});
});

test('an explicit method, override or component wins over auto; a mix chooses the formats (GPTQ onto them where calibrated)', () => {
  const o = plan({ bit_width: 4, overrides: [{ pattern: 'to_q', method: 'rtn', bit_width: 8 }] }, { modality: 'text' });
  assert.deepEqual(schemes(o), ['rtn_int8_g128_asym', 'q4_0', 'hqq_int4_g128']);
  const mixed = plan({ mix: 'q4_k_m' }, { modality: 'text' });
  assert.equal(got(mixed.by['blocks.0.attn.to_q.weight']), 'q4_k');
  assert.equal(got(mixed.by['blocks.0.attn.to_k.weight']), 'q5_0'); // llama.cpp's row fallback, as the mix says
  const mixedCal = plan({ mix: 'q4_k_m' }, { modality: 'text', calibration: calibration() });
  assert.equal(got(mixedCal.by['blocks.0.attn.to_q.weight']), 'gptq→q4_k+time');
  assert.deepEqual(mixedCal.plan.autoRows, {});
  // A memory budget allocates RTN widths itself.
  const budget = plan({ target_memory_gb: 1 }, { modality: 'text' });
  assert.deepEqual(schemes(budget), ['rtn_int4_g128_asym', 'rtn_int4_g128_asym', 'rtn_int4_g128_asym']);
});
