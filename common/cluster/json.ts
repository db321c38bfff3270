/**
 * JSON for job events and results on the wire: non-finite numbers (an exact tensor's SQNR is
 * Infinity) survive the trip as {"$num": "Infinity"} instead of turning into null.
 */
export function encodeJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { $num: String(v) } : v));
}

export function decodeJson<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => (v !== null && typeof v === 'object' && '$num' in v && Object.keys(v).length === 1 ? Number((v as { $num: string }).$num) : v)) as T;
}
