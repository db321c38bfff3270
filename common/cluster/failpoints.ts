/**
 * Failure injection for the cluster tests, in the spirit of etcd's gofail: named points in the
 * worker's code path that misbehave when ARROWQUANT_FAILPOINTS asks them to, e.g.
 * `ARROWQUANT_FAILPOINTS="corrupt-result=2,delay-chunk-ms=4000"`. Unset, every point is inert.
 *
 * - corrupt-result=N: flip a byte in the first N results sent (after their checksum is taken).
 * - delay-chunk-ms=T: sleep T ms before each chunk (a slow worker).
 */
export interface Failpoints {
  corruptResults: number;
  delayChunkMs: number;
}

export function parseFailpoints(text = process.env['ARROWQUANT_FAILPOINTS'] ?? ''): Failpoints {
  const fp: Failpoints = { corruptResults: 0, delayChunkMs: 0 };
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, value] = item.split('=');
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new Error(`ARROWQUANT_FAILPOINTS: "${item}" needs a non-negative number`);
    if (name === 'corrupt-result') fp.corruptResults = n;
    else if (name === 'delay-chunk-ms') fp.delayChunkMs = n;
    else throw new Error(`ARROWQUANT_FAILPOINTS: unknown point "${name}" (corrupt-result, delay-chunk-ms)`);
  }
  return fp;
}
