/**
 * Leader fencing against a real etcd: a coordinator that was deposed without hearing of it (its
 * election key gone, as when its lease expires during a long pause) cannot write job state or
 * commits over the new leader's.
 */
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';

import { Etcd3 } from 'etcd3';

import { connectEtcd } from '../../common/cluster/etcd.js';
import { ClusterStore } from '../../coordinator/cluster/etcd.js';
import { LeadershipLostError } from '../../common/cluster/errors.js';
import { Etcd } from '../helpers/cluster.js';

let etcd: Etcd;
beforeAll(async () => {
  etcd = await Etcd.start();
});
afterAll(async () => {
  await etcd?.stop();
});

test('a deposed leader\'s job writes are refused; the new leader\'s land', async () => {
  const prefix = `/fence-${process.pid}/`;
  const a = new ClusterStore(connectEtcd({ endpoints: [etcd.url] }), prefix);
  const b = new ClusterStore(connectEtcd({ endpoints: [etcd.url] }), prefix);
  const root = new Etcd3({ hosts: etcd.url });
  try {
    const lostA: Error[] = [];
    const campaignA = await a.campaign('a:1', (e) => lostA.push(e));
    await a.fenceWith(campaignA);
    await a.setJobState('j', { state: 'running', startedAt: 'a' });
    await a.commit('j', '0/0/int4', { file: 'f', sha256: 's', bytes: 1, codes: 1, scales: 0, zeros: 0, quality: {}, worker: 'w' });
    assert.equal((await a.jobState('j'))?.state, 'running');
    assert.equal((await a.commits('j')).size, 1);

    // B waits; A's election key disappears behind its back (its lease expired).
    const electedB = b.campaign('b:1', () => {});
    await root.delete().key(await campaignA.getCampaignKey());
    const campaignB = await electedB;
    await b.fenceWith(campaignB);
    assert.equal(await b.leader(), 'b:1');

    await assert.rejects(a.setJobState('j', { state: 'failed', error: 'from the old leader' }), LeadershipLostError);
    await assert.rejects(a.dropCommits('j'), LeadershipLostError);
    await assert.rejects(a.commit('j', '0/1/int4', { file: 'f', sha256: 's', bytes: 1, codes: 1, scales: 0, zeros: 0, quality: {}, worker: 'w' }), LeadershipLostError);
    assert.equal((await b.commits('j')).size, 1, 'the old leader neither dropped nor added commits');
    assert.equal((await b.jobState('j'))?.state, 'running');

    await b.setJobState('j', { state: 'done', result: '{}' });
    assert.equal((await a.jobState('j'))?.state, 'done');
    await campaignB.resign();
  } finally {
    a.close();
    b.close();
    root.close();
  }
});
