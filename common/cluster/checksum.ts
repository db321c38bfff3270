/** The checksum every result carries: SHA-256 over codes ‖ scales ‖ zeros. */
import { createHash } from 'node:crypto';

import type { ResultBytes } from './arrow-codec.js';

export function resultChecksum(r: ResultBytes): Buffer {
  return createHash('sha256').update(r.codes).update(r.scales).update(r.zeros).digest();
}
