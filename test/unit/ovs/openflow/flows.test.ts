// Between canonical flows (flow.ts) and the codec's typed flows (src/ovs/openflow/flows.ts).
import t from 'tap';
import { canonicalMatch, type Flow } from '../../../../src/ovs/flow.js';
import { encodeMatchFields } from '../../../../src/ovs/openflow/codec.js';
import { actionsText, fromReported, toOfFlow } from '../../../../src/ovs/openflow/flows.js';
import { OFPP_NORMAL } from '../../../../src/ovs/openflow/messages.js';
import { FIXTURE_FLOWS } from '../../../helpers/openflow-wire.js';

t.test('actions: drop, NORMAL, outputs', async (t) => {
  const base: Flow = { table: 0, priority: 1, cookie: 1n, match: '', actions: 'drop' };
  t.same(toOfFlow(base).actions, []);
  t.same(toOfFlow({ ...base, actions: '' }).actions, []);
  t.same(toOfFlow({ ...base, actions: 'normal' }).actions, [{ type: 'output', port: OFPP_NORMAL }]);
  t.same(toOfFlow({ ...base, actions: 'output:3,NORMAL' }).actions, [
    { type: 'output', port: 3 },
    { type: 'output', port: OFPP_NORMAL },
  ]);
  t.throws(() => toOfFlow({ ...base, actions: 'mod_dl_src:aa:00:00:00:00:01' }), { name: 'OfCodecError', reason: 'unsupported_field' });
  t.throws(() => toOfFlow({ ...base, actions: 'output:4294967295' }), { name: 'OfCodecError' });
  t.equal(actionsText([]), 'drop');
  t.equal(actionsText([{ type: 'output', port: 7 }, { type: 'output', port: OFPP_NORMAL }]), 'output:7,NORMAL');
});

t.test('fromReported(toOfFlow(f)) is f, canonical', async (t) => {
  for (const f of FIXTURE_FLOWS) {
    const of = toOfFlow(f);
    t.same(fromReported({ ...of, matchBytes: encodeMatchFields(of.match) }), { ...f, match: canonicalMatch(f.match) }, f.match);
  }
});

t.test('a reported flow outside the subset has no canonical flow', async (t) => {
  const of = toOfFlow(FIXTURE_FLOWS[0] as Flow);
  t.equal(fromReported({ ...of, matchBytes: Buffer.alloc(0), match: null }), null);
  t.equal(fromReported({ ...of, matchBytes: encodeMatchFields(of.match), actions: null }), null);
});
