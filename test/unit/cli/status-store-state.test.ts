// Finding of helper T (trial): `vpc-peerctl status` looks for a store state 'failed', which the
// store never reports (src/store/store.ts StoreState: ok | degraded | recovering | closed). With
// the disk full every write gets 503, yet the first line says "serving" and the human view shows
// neither lastError nor degradedSince. Fails until the renderer follows the store's states.
import t from 'tap';
import { PLAIN, renderStatus } from '../../../src/cli/render.js';

const NOW = new Date('2026-01-01T01:02:05.000Z');

/** A status reply as the daemon sends it with a full disk (shape taken from a real run). */
function statusWithStore(state: 'degraded' | 'recovering'): Record<string, unknown> {
  return {
    version: '0.1.0', nodeId: 'hv-01', startedAt: '2026-01-01T00:00:00.000Z', uptimeSeconds: 3725,
    store: {
      path: '/var/lib/vpc-peerd/state.json', state, lastError: 'store: journal write failed: ENOSPC: no space left on device, write',
      degradedSince: '2026-01-01T01:00:00.000Z', recoveries: 0,
      recovery: { snapshotRecords: 0, journalEntries: 0, seq: 0, droppedTail: null, warnings: [] },
      records: 353, lastWriteAt: '2026-01-01T01:00:00.000Z', journalBytes: 257940, seq: 353, commits: 353, syncs: 353, compactions: 0,
    },
    ovs: { state: 'disabled', reason: 'ovs.enabled is false', bridges: [] },
    gossip: { enabled: false, peers: [] },
    counts: { vpcs: 353, peerings: {} },
  };
}

for (const state of ['degraded', 'recovering'] as const) {
  t.test(`store ${state}: the first line does not say serving, and the reason is shown`, async (t) => {
    const out = renderStatus(statusWithStore(state), { style: PLAIN, now: NOW });
    const first = out.split('\n')[0] ?? '';
    t.notMatch(first, /serving/, `writes are refused (store ${state}), so not "serving": ${first}`);
    t.match(out, /ENOSPC/, 'the store\'s lastError is shown in the human view');
  });
}
