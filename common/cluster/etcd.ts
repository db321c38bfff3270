/**
 * The etcd connection both services open, and the one read a worker needs: who leads. The
 * coordinator's election, fencing, membership and checkpoint keys are its own business
 * (coordinator/cluster/etcd.ts); they share only the connection, the namespace and the
 * election's name, defined here so the two sides cannot disagree on them.
 */
import { readFileSync } from 'node:fs';

import { Etcd3 } from 'etcd3';

import { DEFAULT_ETCD_PREFIX, LEADER_ELECTION } from './etcd-keys.js';

export interface EtcdOptions {
  endpoints: string[];
  /** Key prefix (default {@link DEFAULT_ETCD_PREFIX}), so several clusters can share one etcd. */
  namespace?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

export { DEFAULT_ETCD_PREFIX, LEADER_ELECTION } from './etcd-keys.js';

export function connectEtcd(o: EtcdOptions): Etcd3 {
  const credentials = o.ca
    ? { rootCertificate: readFileSync(o.ca), ...(o.cert && o.key ? { certChain: readFileSync(o.cert), privateKey: readFileSync(o.key) } : {}) }
    : undefined;
  return new Etcd3({ hosts: o.endpoints, ...(credentials ? { credentials } : {}), dialTimeout: 5000 });
}

/** The address the current leader advertises, or undefined while nobody leads. */
export async function readLeader(o: EtcdOptions): Promise<string | undefined> {
  const client = connectEtcd(o);
  try {
    return await client.namespace(o.namespace ?? DEFAULT_ETCD_PREFIX).election(LEADER_ELECTION).leader();
  } finally {
    client.close();
  }
}
