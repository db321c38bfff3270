/**
 * The etcd names both services share (the key prefix and the leader election's name), apart from
 * the connection code in etcd.ts so that the settings schema can name the default prefix without
 * loading the etcd client (~0.4 s of the CLI's start).
 */

export const DEFAULT_ETCD_PREFIX = '/arrowquant/';

/** The election the coordinators campaign in; its value is the leader's advertised address. */
export const LEADER_ELECTION = 'leader';
