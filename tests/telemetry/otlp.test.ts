/**
 * OpenTelemetry end to end: the CLI exports to an OTLP/HTTP receiver on loopback (this test's
 * HTTP server, decoding the OTLP JSON encoding the SDK sends with OTEL_EXPORTER_OTLP_PROTOCOL =
 * http/json); the spans nest job ⊃ tensor ⊃ chunk with their attributes, and the metrics count
 * tensors and every fallback step. Nothing is sent when OTel is not configured or disabled.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'vitest';

import { openQuantized } from '../../common/format/reader.js';
import { runCli, synth, tempDir } from '../helpers/cli.js';

type Attr = { key: string; value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean } };
interface OtlpSpan { name: string; spanId: string; parentSpanId?: string; attributes?: Attr[] }

async function receiver() {
  const requests: { path: string; body: Record<string, unknown> }[] = [];
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', body: JSON.parse(data || '{}') as Record<string, unknown> });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { requests, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const attr = (attrs: Attr[] | undefined, key: string) => {
  const v = attrs?.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.doubleValue ?? v.boolValue)));
};

test('spans job ⊃ tensor ⊃ chunk and metrics with fallbacks reach an OTLP receiver', async () => {
  const dir = tempDir('otel');
  await synth('dit', 'single', join(dir, 'dit'));
  const rx = await receiver();
  try {
    const out = join(dir, 'out.parquet');
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'aq-test' };
    const run = await runCli(['quantize', join(dir, 'dit'), '-o', out, '--method', 'rtn', '--bits', '2', '--min-accuracy', '0.97', '--quiet'], { env });
    assert.equal(run.code, 0, run.stderr);
    const f = await openQuantized(out);

    const spans: OtlpSpan[] = [];
    let service: unknown;
    for (const r of rx.requests.filter((x) => x.path === '/v1/traces')) {
      for (const rs of r.body.resourceSpans as { resource: { attributes: Attr[] }; scopeSpans: { spans: OtlpSpan[] }[] }[]) {
        service = attr(rs.resource.attributes, 'service.name');
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
    }
    assert.equal(service, 'aq-test');
    const jobs = spans.filter((s) => s.name === 'arrowquant.job');
    assert.equal(jobs.length, 1);
    const tensors = spans.filter((s) => s.name === 'arrowquant.tensor');
    const chunks = spans.filter((s) => s.name === 'arrowquant.chunk');
    assert.equal(tensors.length, f.tensors.length);
    assert.ok(tensors.every((s) => s.parentSpanId === jobs[0]!.spanId));
    const tensorIds = new Map(tensors.map((s) => [s.spanId, s]));
    const quantized = f.tensors.filter((t) => t.method !== 'keep');
    const fallbackSteps = f.tensors.reduce((n, t) => n + t.fallbacks.length, 0);
    assert.ok(fallbackSteps > 0, 'the run must have fallbacks to count');
    // One chunk span per quantized chunk and rung tried.
    assert.equal(chunks.length, quantized.reduce((n, t) => n + t.chunks * (1 + t.fallbacks.length), 0) + f.tensors.filter((t) => t.method === 'keep' && t.fallbacks.length).reduce((n, t) => n + t.chunks * t.fallbacks.length, 0));
    for (const c of chunks) {
      const parent = tensorIds.get(c.parentSpanId ?? '');
      assert.ok(parent, 'a chunk span is a child of its tensor span');
      assert.equal(attr(c.attributes, 'arrowquant.tensor'), attr(parent.attributes, 'arrowquant.tensor'));
      for (const k of ['arrowquant.method', 'arrowquant.scheme', 'arrowquant.bits', 'arrowquant.bytes', 'arrowquant.worker']) assert.notEqual(attr(c.attributes, k), undefined, k);
    }
    for (const t of f.tensors) {
      const s = tensors.find((x) => attr(x.attributes, 'arrowquant.tensor') === t.name)!;
      assert.equal(attr(s.attributes, 'arrowquant.scheme'), t.scheme);
      assert.equal(attr(s.attributes, 'arrowquant.fallbacks'), t.fallbacks.length);
    }

    const points = new Map<string, { asInt?: string | number; asDouble?: number; attributes?: Attr[] }[]>();
    for (const r of rx.requests.filter((x) => x.path === '/v1/metrics')) {
      for (const rm of r.body.resourceMetrics as { scopeMetrics: { metrics: { name: string; sum?: { dataPoints: [] }; histogram?: { dataPoints: [] } }[] }[] }[]) {
        for (const sm of rm.scopeMetrics) for (const m of sm.metrics) points.set(m.name, [...(points.get(m.name) ?? []), ...(m.sum?.dataPoints ?? m.histogram?.dataPoints ?? [])]);
      }
    }
    const total = (name: string) => (points.get(name) ?? []).reduce((n, p) => n + Number(p.asInt ?? p.asDouble ?? 0), 0);
    assert.equal(total('arrowquant.tensors'), f.tensors.length);
    assert.equal(total('arrowquant.fallbacks'), fallbackSteps);
    for (const p of points.get('arrowquant.fallbacks')!) {
      assert.equal(attr(p.attributes, 'reason'), 'cosine_below_min_accuracy');
      assert.ok(Number(attr(p.attributes, 'to_bits')) > Number(attr(p.attributes, 'from_bits')));
      assert.equal(attr(p.attributes, 'method'), 'rtn');
    }
    for (const name of ['arrowquant.bytes', 'arrowquant.chunk.duration', 'arrowquant.tensor.duration', 'arrowquant.job.duration']) assert.ok(points.has(name), name);

    // Not configured, or disabled: nothing is sent.
    const before = rx.requests.length;
    assert.equal((await runCli(['quantize', join(dir, 'dit'), '-o', join(dir, 'b.parquet'), '--quiet'])).code, 0);
    assert.equal((await runCli(['quantize', join(dir, 'dit'), '-o', join(dir, 'c.parquet'), '--quiet'], { env: { ...env, OTEL_SDK_DISABLED: 'true' } })).code, 0);
    assert.equal(rx.requests.length, before);
  } finally {
    await rx.close();
  }
});
