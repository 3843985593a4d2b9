import t from 'tap';
import { z } from 'zod';
import { silentLogger } from '../../../src/log/logger.js';
import { buildOpenRpc, rpcDiscoverMethod, type OpenRpcDocument } from '../../../src/rpc/discover.js';
import { createDispatcher } from '../../../src/rpc/dispatcher.js';
import { defineMethod, type MethodSpec } from '../../../src/rpc/method.js';
import { fakeAuthenticate, fakeMethods } from '../../helpers/rpc-fakes.js';

const info = { title: 'vpc-peerd', version: '9.9.9' };

t.test('one by-name param per property, required as the schema says, plus auth', (t) => {
  const methods: MethodSpec[] = [
    defineMethod({
      name: 'vpc.create',
      summary: 'Create a VPC.',
      auth: 'required',
      permission: 'vpc:create',
      params: z.strictObject({ id: z.string().regex(/^[a-z]+$/), cidrs: z.array(z.string()).min(1), name: z.string().optional(), n: z.number().default(1) }),
      result: z.object({ id: z.string() }),
      handler: (p) => ({ id: p.id }),
    }),
  ];
  const doc = buildOpenRpc(methods, info);
  t.equal(doc.openrpc, '1.2.6');
  t.same(doc.info, info);
  const m = doc.methods[0]!;
  t.same([m.name, m.summary, m.paramStructure, m['x-auth']], ['vpc.create', 'Create a VPC.', 'by-name', 'required']);
  t.same(
    m.params.map((p) => [p.name, p.required]),
    [['id', true], ['cidrs', true], ['name', false], ['n', false], ['auth', false]],
  );
  t.same(m.params[0]?.schema, { type: 'string', pattern: '^[a-z]+$' });
  t.same(m.params[1]?.schema, { type: 'array', minItems: 1, items: { type: 'string' } });
  t.same(m.result, { name: 'result', schema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'], additionalProperties: false } });
  t.notOk('$schema' in m.result.schema, 'no dialect marker inside a method');
  t.end();
});

t.test('rpc.discover is served from the table the dispatcher runs', async (t) => {
  const table: MethodSpec[] = [...fakeMethods(), rpcDiscoverMethod(() => d.methods, info)];
  const d = createDispatcher({ methods: table, authenticate: fakeAuthenticate, logger: silentLogger(), maxBatchSize: 5 });
  const reply = await d.handleLine('{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}', { id: 1, principal: null });
  const doc = (JSON.parse(reply!) as { result: OpenRpcDocument }).result;
  t.same(doc.methods.map((m) => m.name), table.map((m) => m.name), 'every method, in order, needing no login');
  t.equal(doc.methods.find((m) => m.name === 'whoami')?.['x-auth'], 'required');
  const again = await d.handleLine('{"jsonrpc":"2.0","id":2,"method":"rpc.discover","params":{}}', { id: 1, principal: null });
  t.same(JSON.parse(again!).result, doc);
});
