// The topology parser against `ovs-vsctl --format=json` output captured from OVS 3.1
// (test/fixtures/ovs/README.md), then against malformed documents.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { OvsError } from '../../../src/ovs/runner.js';
import { parseTopology, type Topology } from '../../../src/ovs/topology-parser.js';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/ovs/${name}`, import.meta.url), 'utf8');

/** Bridges → port name → port, as plain objects for t.same. */
function plain(topo: Topology): Record<string, Record<string, unknown>> {
  return Object.fromEntries([...topo.bridges].map(([name, b]) => [name, Object.fromEntries(b.ports)]));
}

t.test('bridges, internal ports, a system port, a patch pair, a port in error, a bond', (t) => {
  const topo = parseTopology(fixture('topology.txt'));
  t.same(plain(topo), {
    'br-a': {
      'br-a': { name: 'br-a', ofport: 65534, type: 'internal', peer: null, error: null },
      vi1: { name: 'vi1', ofport: 2, type: '', peer: null, error: null },
      'pcx-a': { name: 'pcx-a', ofport: 1, type: 'patch', peer: 'pcx-b', error: null },
    },
    'br-b': {
      'br-b': { name: 'br-b', ofport: 65534, type: 'internal', peer: null, error: null },
      'pcx-b': { name: 'pcx-b', ofport: 1, type: 'patch', peer: 'pcx-a', error: null },
      // ofport -1: vswitchd could not set it up; the error column says why.
      nodev: { name: 'nodev', ofport: null, type: '', peer: null, error: 'could not open network device nodev (No such device)' },
      bond0: { name: 'bond0', ofport: null, type: 'bond', peer: null, error: null },
    },
    // A bridge with one port: OVSDB writes a one-element set as the bare uuid.
    'br-c': { 'br-c': { name: 'br-c', ofport: 65534, type: 'internal', peer: null, error: null } },
  });
  t.equal(topo.bridges.get('br-a')?.name, 'br-a');
  t.end();
});

t.test('a port added while vswitchd is down has no ofport yet (the empty set)', (t) => {
  const topo = parseTopology(fixture('topology-vswitchd-down.txt'));
  t.same(topo.bridges.get('br-c')?.ports.get('pending'), { name: 'pending', ofport: null, type: 'internal', peer: null, error: null });
  t.end();
});

t.test('no bridges', (t) => {
  t.equal(parseTopology(fixture('topology-empty.txt')).bridges.size, 0);
  t.end();
});

t.test('malformed output is bad-output', (t) => {
  const [bridges = '', ports = '', ifaces = ''] = fixture('topology.txt').trim().split('\n');
  const swap = (doc: string, from: string, to: string): string => {
    if (!doc.includes(from)) throw new Error(`fixture lacks ${from}`);
    return doc.replace(from, to);
  };
  const cases: Record<string, string> = {
    'two documents': `${bridges}\n${ports}\n`,
    'not JSON': `${bridges}\n${ports}\n{"data":[\n`,
    'a document that is not an object': `${bridges}\n${ports}\n[]\n`,
    'wrong headings': `${bridges}\n${ports}\n${swap(ifaces, '"error"]', '"other"]')}\n`,
    'a short row': `${bridges}\n${swap(ports, '"bond0",', '')}\n${ifaces}\n`,
    'a bad uuid': `${swap(bridges, '"uuid","37dd21db', '"uuid","XXXXXXXX')}\n${ports}\n${ifaces}\n`,
    'a named-uuid where a uuid belongs': `${swap(bridges, '["uuid","37dd21db', '["named-uuid","37dd21db')}\n${ports}\n${ifaces}\n`,
    'a dangling port reference': `${swap(bridges, '37dd21db-d2f9-46bd-b919-92f7b15aaa19', '00000000-0000-0000-0000-000000000000')}\n${ports}\n${ifaces}\n`,
    'a dangling interface reference': `${bridges}\n${swap(ports, '755c4e4b-f624-401d-9695-9867651527a9', '00000000-0000-0000-0000-000000000000')}\n${ifaces}\n`,
    'options that are not a map': `${bridges}\n${ports}\n${swap(ifaces, '["map",[["peer","pcx-b"]]]', '["set",[]]')}\n`,
    'an ofport that is not a number': `${bridges}\n${ports}\n${swap(ifaces, '"pcx-a",1,', '"pcx-a","1",')}\n`,
    'an ofport out of range': `${bridges}\n${ports}\n${swap(ifaces, '"pcx-a",1,', '"pcx-a",70000,')}\n`,
    'an optional column holding two values': `${bridges}\n${ports}\n${swap(ifaces, '"pcx-a",1,', '"pcx-a",["set",[1,2]],')}\n`,
    'a name that is not a string': `${bridges}\n${ports}\n${swap(ifaces, '"pcx-a",1,', '7,1,')}\n`,
  };
  for (const [name, text] of Object.entries(cases)) {
    try {
      parseTopology(text);
      t.fail(`${name}: accepted`);
    } catch (err) {
      t.ok(err instanceof OvsError && err.kind === 'bad-output', name);
    }
  }
  t.end();
});
