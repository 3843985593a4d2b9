import { readFileSync } from 'node:fs';
import t from 'tap';
import { Catalogue, RpcError } from '../../src/errors.js';
import { DataplaneReasons } from '../../src/reconcile/dataplane.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\| `([A-Z_]+)` \| (-?\d+) \|/gm)].map((m) => [m[1], Number(m[2])]),
);

t.test('docs/errors.md lists exactly the catalogue, with the same codes', async (t) => {
  t.same([...rows.keys()].sort(), Object.keys(Catalogue).sort());
  for (const [reason, [code]] of Object.entries(Catalogue)) t.equal(rows.get(reason), code, reason);
});

t.test('an RpcError carries its catalogue code and its reason in data', async (t) => {
  const e = new RpcError('CIDR_OVERLAP', 'overlap', { cidr: '10.0.0.0/8' });
  t.same(e.toJSON(), { code: 409, message: 'overlap', data: { cidr: '10.0.0.0/8', reason: 'CIDR_OVERLAP' } });
});

t.test('docs/errors.md lists exactly the data-plane reasons', async (t) => {
  const section = doc.slice(doc.indexOf('## Data-plane reasons'));
  const listed = [...section.matchAll(/^\| `([A-Z_]+)` \| [a-z]/gm)].map((m) => m[1]);
  t.same(listed.sort(), [...DataplaneReasons].sort());
});
