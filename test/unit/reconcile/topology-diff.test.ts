// topologyChange and diffTopology (src/reconcile/topology-diff.ts): bridges that appeared or
// went; bridges whose ports of ours appeared, went or changed in any field the daemon reads; ports
// of others ignored by topologyChange; equal values in other objects are no change.
import t from 'tap';
import type { PortInfo, Topology } from '../../../src/ovs/topology-parser.js';
import { diffTopology, topologyChange } from '../../../src/reconcile/topology-diff.js';

const OURS = 'px0000000000a1r';
const PEER = 'px0000000000a1a';
const port = (name: string, extra: Partial<PortInfo> = {}): PortInfo => ({ name, ofport: 32768, type: 'patch', peer: PEER, error: null, ...extra });
const vm: PortInfo = { name: 'vm', ofport: 1, type: '', peer: null, error: null };
/** A topology of `bridges`, each with its ports (fresh objects every call). */
const topo = (bridges: Record<string, PortInfo[]>): Topology => ({
  bridges: new Map(Object.entries(bridges).map(([name, ports]) => [name, { name, ports: new Map(ports.map((p) => [p.name, { ...p }])) }])),
});

t.test('topologyChange', (t) => {
  const base = { 'br-a': [vm, port(OURS)], 'br-b': [vm] };
  const cases: { name: string; b: Record<string, PortInfo[]>; bridges?: string[]; ourPorts?: string[] }[] = [
    { name: 'the same values in other objects', b: base },
    { name: 'a bridge appeared', b: { ...base, 'br-c': [] }, bridges: ['br-c'] },
    { name: 'a bridge went', b: { 'br-a': base['br-a'] }, bridges: ['br-b'] },
    { name: 'our port deleted', b: { ...base, 'br-a': [vm] }, ourPorts: ['br-a'] },
    { name: 'our port added', b: { ...base, 'br-b': [vm, port(PEER, { peer: OURS })] }, ourPorts: ['br-b'] },
    { name: 'its peer changed', b: { ...base, 'br-a': [vm, port(OURS, { peer: 'bogus' })] }, ourPorts: ['br-a'] },
    { name: 'its ofport changed', b: { ...base, 'br-a': [vm, port(OURS, { ofport: 7 })] }, ourPorts: ['br-a'] },
    { name: 'its type changed', b: { ...base, 'br-a': [vm, port(OURS, { type: 'internal' })] }, ourPorts: ['br-a'] },
    { name: 'it went into error', b: { ...base, 'br-a': [vm, port(OURS, { ofport: null, error: 'could not open' })] }, ourPorts: ['br-a'] },
    { name: 'a port of someone else added, changed, deleted', b: { 'br-a': [{ ...vm, ofport: 9 }, port(OURS)], 'br-b': [vm, { ...vm, name: 'vm2' }] } },
  ];
  for (const c of cases) t.same(topologyChange(topo(base), topo(c.b)), { bridges: c.bridges ?? [], ourPorts: c.ourPorts ?? [] }, c.name);
  t.end();
});

t.test('diffTopology names every port that changed, with its bridge; a shared ports map is not walked', (t) => {
  const a = topo({ 'br-a': [vm, port(OURS)] });
  const seen: string[] = [];
  diffTopology(a, topo({ 'br-a': [{ ...vm, ofport: 2 }] }), (b) => seen.push(`bridge ${b}`), (p, b) => seen.push(`${b}/${p}`));
  t.same(seen.sort(), ['br-a/px0000000000a1r', 'br-a/vm']);
  const shared: Topology = { bridges: new Map([['br-a', { name: 'br-a', ports: (a.bridges.get('br-a') as { ports: ReadonlyMap<string, PortInfo> }).ports }]]) };
  diffTopology(a, shared, () => t.fail('no bridge'), () => t.fail('no port'));
  t.end();
});
