/**
 * Transport security between coordinator, workers and clients: mutual TLS by default (every
 * peer presents a certificate signed by the cluster CA); plaintext only when a service's
 * `insecure` setting asks for it (settings/compile.ts reads the material and enforces that rule).
 * The certificates for development come from scripts/dev-ca.sh.
 */
import * as grpc from '@grpc/grpc-js';

export type TlsMaterial = { insecure: true } | { insecure: false; cert: Buffer; key: Buffer; ca: Buffer };

/** Server side: require and verify a client certificate. */
export function serverCredentials(m: TlsMaterial): grpc.ServerCredentials {
  if (m.insecure) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(m.ca, [{ cert_chain: m.cert, private_key: m.key }], true);
}

export function channelCredentials(m: TlsMaterial): grpc.ChannelCredentials {
  if (m.insecure) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(m.ca, m.key, m.cert);
}
