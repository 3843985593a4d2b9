// The human `peering get` (trial findings): a host's OVS error is printed once, not in the
// data-plane fields, the hosts summary and the hosts table alike; and for a peering that has
// ended, hosts with no flows left are what is wanted, not problems.
import t from 'tap';
import { TERMINAL_STATUSES } from '../../../src/cli/commands.js';
import { render } from '../../../src/cli/render.js';
import { TerminalStatuses } from '../../../src/domain/types.js';

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
  t.match(out, /^hv-01 +error +0 +\S+ +\S+ +see dataplane\.error above$/m, 'this host\'s row points at it');
  t.match(out, /^hv-03 +error +0 +\S+ +\S+ +OVS is not answering$/m);
});

t.test('a deleted peering: hosts whose flows are gone are done, not problems', async (t) => {
  const gone = { state: 'inactive', lastReconciledAt: '2026-01-01T00:00:05.000Z' };
  const hosts = (states: string[]): Record<string, unknown>[] => states.map((state, i) => ({ nodeId: `hv-0${i + 1}`, state }));
  const deleted = (states: string[]): string => get({ ...peering('deleted', gone, hosts(states)), statusReason: 'Deleted by alice.' });
  const all = deleted(['inactive', 'inactive', 'inactive']);
  t.match(all, /^flows removed on 3\/3 hosts$/m, `the summary says it is done:\n${all}`);
  t.notMatch(all, /programmed on|hv-0\d: inactive/, 'no host is named as if it were a problem');
  t.match(deleted(['inactive', 'pending', 'not-local', 'error']), /^flows removed on 1\/3 hosts \(not local to 1 more\); hv-02: pending; hv-04: error$/m,
    'hosts still removing flows or in error are named');
  t.match(deleted(['inactive', 'unknown']), /^flows removed on 1\/2 hosts; hv-02: unknown$/m, 'a host that has not reported it yet is not done');
  for (const status of ['rejected', 'expired', 'failed']) {
    t.match(get(peering(status, gone, hosts(['inactive', 'inactive']))), /^flows removed on 2\/2 hosts$/m, `${status} is terminal too`);
  }
  t.match(get(peering('active', { state: 'programmed' }, hosts(['programmed', 'inactive']))), /^programmed on 1\/2 hosts; hv-02: inactive$/m, 'an active peering still wants its flows');
});

t.test('the CLI\'s terminal statuses are the domain\'s', async (t) => {
  t.same([...TERMINAL_STATUSES].sort(), [...TerminalStatuses].sort());
});
