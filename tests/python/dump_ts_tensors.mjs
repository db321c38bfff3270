// Dump every tensor of an ArrowQuant file as the TypeScript reader (dist/common/format/reader.js)
// dequantizes it, for tests/python/test_reference_reader.py to compare with docs/reference_reader.py.
//
//   node tests/python/dump_ts_tensors.mjs FILE OUTDIR
//
// Writes OUTDIR/<tensor index>.bin (the typed array's raw little-endian bytes) and OUTDIR/index.json:
// {"tensors": [{index, name, component, shape, sourceDtype, scheme, chunks, dtype, elements, file,
//   channelScales (list or null), activation ([[timestep, scale, zeroPoint]] at every time group's
//   first and last timestep; [] without time groups)}],
//  "metadata": {...footer keys...}}, where dtype is the typed array's constructor name.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const readerPath = join(root, 'dist', 'common', 'format', 'reader.js');
const [file, outDir] = process.argv.slice(2);
if (!file || !outDir) {
  console.error('usage: node dump_ts_tensors.mjs FILE OUTDIR');
  process.exit(2);
}
if (!existsSync(readerPath)) {
  console.error(`${readerPath} is missing: build the project first (npm run build)`);
  process.exit(3);
}
const { openQuantized } = await import(pathToFileURL(readerPath).href);

mkdirSync(outDir, { recursive: true });
const q = await openQuantized(file);
const tensors = [];
for (const t of q.tensors) {
  const values = await q.dequantize(t);
  const name = `${t.index}.bin`;
  const scales = t.method === 'keep' ? undefined : await q.channelScales(t);
  const groups = (await q.chunk(t, 0)).raw.timeGroups ?? [];
  const activation = [];
  for (const g of groups) {
    for (const ts of [g.tStart, g.tEnd - 1]) {
      const p = await q.activationParams(t, ts);
      activation.push([ts, p.scale, p.zeroPoint]);
    }
  }
  writeFileSync(join(outDir, name), Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  tensors.push({
    index: t.index,
    name: t.name,
    component: t.component ?? null,
    shape: t.shape,
    sourceDtype: t.sourceDtype,
    scheme: t.scheme,
    chunks: t.chunks,
    dtype: values.constructor.name,
    elements: values.length,
    file: name,
    channelScales: scales ? Array.from(scales) : null,
    activation,
  });
}
writeFileSync(join(outDir, 'index.json'), JSON.stringify({ tensors, metadata: q.metadata }, null, 1));
