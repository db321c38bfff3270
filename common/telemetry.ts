/**
 * OpenTelemetry for ArrowQuant's processes. The OTel Node SDK is started only when an OTLP
 * endpoint is configured by the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the
 * `_TRACES_`/`_METRICS_` ones) and `OTEL_SDK_DISABLED` is not true; the SDK then reads the rest
 * of the `OTEL_*` variables itself (protocol, headers, service name, exporters). Otherwise the
 * API stays a no-op and nothing is exported or attempted.
 *
 * What is emitted (job.ts): spans `arrowquant.job` ⊃ `arrowquant.tensor` ⊃ `arrowquant.chunk`
 * with tensor, method, scheme, bits, bytes and worker attributes; metrics
 * `arrowquant.tensors` (by method, bits, outcome), `arrowquant.bytes` (source bytes, by method),
 * `arrowquant.chunk.duration`, `arrowquant.tensor.duration`, `arrowquant.job.duration` (seconds)
 * and `arrowquant.fallbacks` (by from_bits, to_bits, reason, method).
 */
import { metrics, trace, type Meter, type Tracer } from '@opentelemetry/api';

const NAME = 'arrowquant';

export interface Telemetry {
  shutdown(): Promise<void>;
}

export function otlpConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
}

/** Start the SDK when OTLP is configured; undefined (nothing started) otherwise. */
export async function startTelemetry(env: NodeJS.ProcessEnv = process.env): Promise<Telemetry | undefined> {
  if (!otlpConfigured(env)) return undefined;
  // Loaded only when used: the SDK and its exporters are a large import for a CLI start.
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({ serviceName: env.OTEL_SERVICE_NAME ?? NAME });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

export function tracer(): Tracer {
  return trace.getTracer(NAME);
}

/** The meter of the provider registered now (create instruments after `startTelemetry`). */
export function meter(): Meter {
  return metrics.getMeter(NAME);
}
