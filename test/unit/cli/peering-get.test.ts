// The human `peering get` (trial findings): a host's OVS error is printed once, not in the
// data-plane fields, the hosts summary and the hosts table alike.
import t from 'tap';
import { render } from '../../../src/cli/render.js';

const HERE = 'br-a: ovs-ofctl: br-a is not a bridge or a socket';
const THERE = 'OVS is not answering';

/** A peering as peering.get returns it; this host (hv-01) first in `hosts` (SPEC §5). */
function peering(status: string, dataplane: Record<string, unknown>, hosts: Record<string, unknown>[]): Record<string, unknown> {
  return {
    id: 'pcx-aaaaaaaaaaaaaaaaa', tenantId: 't1', requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-b', status, requestedBy: 'alice',
    createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:01.000Z', expiresAt: '2026-01-08T00:00:00.000Z',
    dataplane: { flows: 0, lastReconciledAt: null, lastAttemptAt: '2026-01-01T00:00:05.000Z', bridges: [], ...dataplane },
    hosts: hosts.map((h) => ({ flows: 0, at: '2026-01-01T00:00:05.000Z', ...h })),
  };
}

const get = (p: Record<string, unknown>): string => render({ view: 'peering', params: {} }, p);
const times = (out: string, s: string): number => out.split(s).length - 1;

t.test('each host\'s OVS error is printed once', async (t) => {
  const out = get(peering('active', { state: 'error', reason: 'OVS_COMMAND_FAILED', error: HERE }, [
    { nodeId: 'hv-01', state: 'error', error: HERE },
    { nodeId: 'hv-02', state: 'programmed', flows: 6 },
    { nodeId: 'hv-03', state: 'error', error: THERE },
  ]));
  t.equal(times(out, HERE), 1, `this host's error once:\n${out}`);
  t.equal(times(out, THERE), 1, 'another host\'s error once');
  t.match(out, /^dataplane\.error:\s+br-a: ovs-ofctl: br-a is not a bridge or a socket$/m, 'this host\'s error with its data plane');
  t.match(out, /^programmed on 1\/3 hosts; hv-01: error; hv-03: error$/m, 'the summary names the hosts in error; the table says why');
  t.match(out, /^hv-01 +error +0 +\S+ +see dataplane\.error above$/m, 'this host\'s row points at it');
  t.match(out, /^hv-03 +error +0 +\S+ +OVS is not answering$/m);
});
