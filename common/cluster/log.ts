/**
 * Structured logs for the long-running services (coordinator, worker): one JSON object per line
 * on stdout, via pino. Level from ARROW_QUANT_LOG_LEVEL (default info).
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function serviceLogger(service: 'coordinator' | 'worker', id: string): Logger {
  return pino({
    level: process.env['ARROW_QUANT_LOG_LEVEL'] ?? 'info',
    base: { service, id, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
