/**
 * Transport security between coordinator, workers and clients: mutual TLS by default (every
 * peer presents a certificate signed by the cluster CA); plaintext only when asked for with
 * `--insecure`. The certificates for development come from scripts/dev-ca.sh.
 */
import { readFileSync } from 'node:fs';

import * as grpc from '@grpc/grpc-js';

import { ConfigurationError } from '../config/errors.js';

export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  insecure?: boolean;
}

export type TlsMaterial = { insecure: true } | { insecure: false; cert: Buffer; key: Buffer; ca: Buffer };

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new ConfigurationError(`cannot read ${path}: ${(cause as Error).message}`, flag, path, { kind: 'cli', flag: `--${flag}` }, { cause });
  }
}

/** Resolve the flags: all three files, or `--insecure`, never a silent mix. */
export function tlsMaterial(flags: TlsFlags): TlsMaterial {
  const given = [flags.tlsCert, flags.tlsKey, flags.tlsCa].filter((x) => x !== undefined).length;
  if (flags.insecure) {
    if (given > 0) throw new ConfigurationError('--insecure cannot be combined with --tls-cert/--tls-key/--tls-ca', 'insecure', true, { kind: 'cli', flag: '--insecure' });
    return { insecure: true };
  }
  if (given !== 3) {
    throw new ConfigurationError('TLS with client certificates is the default: give --tls-cert, --tls-key and --tls-ca (scripts/dev-ca.sh makes a development set), or --insecure for plaintext', 'tls', null, { kind: 'cli', flag: '--tls-cert' });
  }
  return { insecure: false, cert: readPem('tls-cert', flags.tlsCert!), key: readPem('tls-key', flags.tlsKey!), ca: readPem('tls-ca', flags.tlsCa!) };
}

/** Server side: require and verify a client certificate. */
export function serverCredentials(m: TlsMaterial): grpc.ServerCredentials {
  if (m.insecure) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(m.ca, [{ cert_chain: m.cert, private_key: m.key }], true);
}

export function channelCredentials(m: TlsMaterial): grpc.ChannelCredentials {
  if (m.insecure) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(m.ca, m.key, m.cert);
}
