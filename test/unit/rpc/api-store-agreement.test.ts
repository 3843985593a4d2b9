// Issue 9, fault 1: a value the API accepts must never be refused deeper down as an internal
// error. Generated calls go through each method's params schema and handler (the dispatcher's
// path without the socket) onto a real store; every call must succeed or fail with a domain
// error (never a plain Error, which the dispatcher sends as -32603), and the files must load
// back to exactly the live state.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import type { Principal } from '../../../src/domain/types.js';
import { isRpcError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createDisabledDataplane } from '../../../src/reconcile/dataplane.js';
import type { MethodSpec } from '../../../src/rpc/method.js';
import { apiMethods } from '../../../src/rpc/methods/index.js';
import { openStore } from '../../../src/store/open-store.js';
import { disabledGossipStatus } from '../../../src/gossip/service.js';
import type { Store } from '../../../src/store/store.js';
import { holdsAsync } from '../../helpers/property.js';

const POLICY = { pendingTtlSeconds: 604800, terminalRetentionSeconds: 86400, maxActivePerVpc: 3 };

function methodTable(store: Store): Map<string, MethodSpec> {
  const methods = apiMethods({
    store,
    dataplane: () => createDisabledDataplane('test'),
    policy: () => POLICY,
    authenticate: () => Promise.reject(new Error('not used')),
    nodeId: 'n1',
    version: 'test',
    startedAt: new Date(),
    now: () => new Date(),
    metrics: () => Promise.resolve([]),
    gossip: () => disabledGossipStatus('n1'),
    hosts: () => [],
  });
  return new Map(methods.map((m) => [m.name, m]));
}

// Values near each rule's edges: lengths in code points vs UTF-16 units, control characters,
// lone surrogates, CIDRs spelt un-normalised or not at all.
const emojiRun = fc.integer({ min: 60, max: 135 }).map((n) => '😀'.repeat(n));
const text = fc.oneof(
  { arbitrary: fc.stringMatching(/^[a-z][a-z0-9 -]{0,20}$/), weight: 4 },
  fc.string({ maxLength: 140 }),
  fc.string({ unit: 'grapheme', maxLength: 140 }),
  fc.string({ unit: 'binary', maxLength: 140 }),
  emojiRun,
  fc.constantFrom('', 'web', 'a\nb', '\u0000', '\ud800', 'x'.repeat(128), 'x'.repeat(129)),
);
const vpcId = fc.oneof({ arbitrary: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), weight: 6 }, fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/), text);
const bridge = fc.oneof({ arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,15}$/), weight: 4 }, text);
const cidr = fc.oneof(
  { arbitrary: fc.tuple(fc.ipV4(), fc.integer({ min: 8, max: 30 })).map(([a, p]) => `${a}/${p}`), weight: 6 },
  fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 33 })).map(([a, p]) => `${a}/${p}`),
  fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 129 })).map(([a, p]) => `${a}/${p}`),
  fc.constantFrom('10.0.0.1/16', '10.0.0.0/8', 'FD00::1/64', '::ffff:10.0.0.0/104', '10.0.0.256/24', '1.2.3'),
  text,
);
const cidrs = fc.oneof({ arbitrary: fc.array(cidr, { minLength: 1, maxLength: 2 }), weight: 4 }, fc.array(cidr, { minLength: 0, maxLength: 6 }));
const sub = fc.oneof(fc.constant('alice'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 300 }), emojiRun);
const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

type Call = { readonly method: string; readonly params: Record<string, unknown>; readonly sub: string };
const call = fc.oneof(
  fc.record({ method: fc.constant('vpc.create'), sub, params: fc.record({ id: vpcId, tenantId: fc.constant('t1'), cidrs, bridge, name: optional(text) }, { requiredKeys: ['id', 'tenantId', 'cidrs', 'bridge'] }) }),
  fc.record({ method: fc.constant('vpc.update'), sub, params: fc.record({ id: vpcId, name: optional(text), cidrs: optional(cidrs) }, { requiredKeys: ['id'] }) }),
  fc.record({ method: fc.constant('peering.create'), sub, params: fc.record({ requesterVpcId: vpcId, accepterVpcId: vpcId, name: optional(text) }, { requiredKeys: ['requesterVpcId', 'accepterVpcId'] }) }),
  fc.record({ method: fc.constantFrom('peering.accept', 'peering.reject', 'peering.delete'), sub, params: fc.constant({ id: '' }) }),
  fc.record({ method: fc.constant('vpc.delete'), sub, params: fc.record({ id: vpcId }) }),
) as fc.Arbitrary<Call>;

/** Every record, sorted by id, as JSON. */
function snapshot(store: Store): string {
  const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : 1);
  return JSON.stringify([[...store.view.vpcs()].sort(byId), [...store.view.peerings()].sort(byId)]);
}

/** Drops members set to undefined, as JSON on the wire would. */
function wire(params: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(params)) as Record<string, unknown>;
}

t.test('whatever the API schemas accept, the store accepts and loads back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-agree-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.json');
  const { store } = await openStore({ nodeId: 'hv-01', path, logger: silentLogger(), compactAfterBytes: 64 * 1024 });
  const methods = methodTable(store);
  let accepted = 0;
  let refused = 0;

  const property = fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 6 }), async (calls) => {
    for (const c of calls) {
      const spec = methods.get(c.method)!;
      // Transitions act on a peering that exists, when there is one.
      const params = c.params.id === '' ? { id: [...store.view.peerings()].at(-1)?.id ?? 'pcx-00000000000000000' } : wire(c.params);
      const parsed = spec.params.safeParse(params);
      if (!parsed.success) continue; // refused at the boundary with -32602: not this property's concern
      const principal: Principal = { sub: c.sub, tenant: 't1', permissions: ['*'] };
      try {
        await spec.handler(parsed.data, { principal, connection: { principal, id: 1 }, requestId: 'r' });
        accepted++;
      } catch (err) {
        if (!isRpcError(err) || err.code === -32603) {
          throw new Error(`${c.method} ${JSON.stringify(params)} as ${JSON.stringify(c.sub)}: ${(err as Error).message}`, { cause: err });
        }
        refused++;
      }
    }
  });
  await holdsAsync(t, 'no accepted call is refused by the store', property, 400);
  t.ok(accepted > 200, `${accepted} calls accepted, ${refused} refused by a rule`);

  const live = snapshot(store);
  await store.close();
  const again = await openStore({ nodeId: 'hv-01', path, logger: silentLogger() });
  t.teardown(() => again.store.close());
  t.ok(snapshot(again.store) === live, 'the files load back to the live state');
});

t.test('the case that was found: 65 to 128 emoji in a name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-agree-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { store } = await openStore({ nodeId: 'hv-01', path: join(dir, 'state.json'), logger: silentLogger() });
  t.teardown(() => store.close());
  const create = methodTable(store).get('vpc.create')!;
  const principal: Principal = { sub: 'alice', tenant: 't1', permissions: ['*'] };
  const ctx = { principal, connection: { principal, id: 1 }, requestId: 'r' } as never;
  const name = '😀'.repeat(128);
  const params = create.params.parse({ id: 'emoji', tenantId: 't1', cidrs: ['10.0.0.0/16'], bridge: 'br-emoji', name });
  t.match(await create.handler(params, ctx), { name }, '128 emoji are a name');
  t.notOk(create.params.safeParse({ id: 'more', tenantId: 't1', cidrs: ['10.1.0.0/16'], bridge: 'br-more', name: `${name}😀` }).success, '129 are refused at the boundary');
});
