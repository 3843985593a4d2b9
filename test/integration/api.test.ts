// The real daemon process, driven over its real socket: every rule and error reason of the API,
// identity (401/403/404), and protocol errors that must leave the daemon serving.
import { statSync } from 'node:fs';
import t, { type Test } from 'tap';
import { Catalogue, type Reason } from '../../src/errors.js';
import { RpcClientError, type RpcClient } from '../../src/rpc/client.js';
import { startDaemon } from '../helpers/daemon.js';
import { rawExchange } from '../helpers/raw-socket.js';

// Reasons reached by this file; the last test checks that every catalogue reason was, except
// the two no well-formed call can provoke (they are covered by the dispatcher and store tests)
// and the two that need short socket deadlines (covered by the server and hostile-client tests).
const reached = new Set<string>();
const NOT_REACHABLE_FROM_OUTSIDE: Reason[] = ['INTERNAL_ERROR', 'UNAVAILABLE', 'LINE_TIMEOUT', 'IDLE_TIMEOUT'];
/** Reasons that need an Open vSwitch (this daemon runs in no-op mode): reached by operator.ovs.test.ts. */
const NEED_OVS: Reason[] = ['BRIDGE_NOT_FOUND', 'OVS_UNAVAILABLE'];

async function refused(t: Test, call: Promise<unknown>, code: number, reason: Reason): Promise<RpcClientError> {
  const err = await call.then(
    () => t.fail(`expected ${reason}, the call succeeded`),
    (e: unknown) => e,
  );
  t.type(err, RpcClientError, `${reason}: an RPC error`);
  const e = err as RpcClientError;
  t.equal(e.code, code, `${reason}: code ${code}`);
  t.equal(e.reason, reason, `reason ${reason}`);
  reached.add(e.reason ?? '');
  return e;
}

function reachedRaw(lines: unknown[]): void {
  for (const line of lines.flat()) {
    const reason = (line as { error?: { data?: { reason?: string } } }).error?.data?.reason;
    if (reason) reached.add(reason);
  }
}

t.test('API over the socket', async (t) => {
  const d = await startDaemon(t, { config: { peering: { maxActivePerVpc: 1 } } });
  const admin = await d.admin();
  const vpc = (id: string, tenantId: string, cidrs: string[], bridge: string): Promise<unknown> =>
    admin.call('vpc.create', { id, tenantId, cidrs, bridge });

  t.test('socket and token files have their modes', async (t) => {
    t.equal(statSync(d.socketPath).mode & 0o777, 0o660);
    t.equal(statSync(`${d.dir}/admin.token`).mode & 0o777, 0o600);
  });

  t.test('VPC rules', async (t) => {
    const a = (await vpc('vpc-a', 'acme', ['10.0.0.5/16', 'FD00:A::1/64'], 'br-a')) as { cidrs: string[] };
    t.same(a.cidrs, ['10.0.0.0/16', 'fd00:a::/64'], 'CIDRs stored normalised');
    await refused(t, vpc('vpc-a', 'acme', ['10.9.0.0/16'], 'br-x'), 409, 'VPC_EXISTS');
    await refused(t, vpc('vpc-x', 'acme', ['10.9.0.0/16'], 'br-a'), 409, 'BRIDGE_IN_USE');
    await refused(t, vpc('vpc-x', 'acme', ['10.9.0.0/16', '10.9.1.0/24'], 'br-x'), 409, 'CIDR_OVERLAP');
    await refused(t, vpc('vpc-x', 'acme', ['10.0.0.256/24'], 'br-x'), -32602, 'INVALID_PARAMS');
    await refused(t, vpc('Bad_Id', 'acme', ['10.9.0.0/16'], 'br-x'), -32602, 'INVALID_PARAMS');
    await refused(t, vpc('vpc-x', 'acme', ['10.9.0.0/16'], 'bridge-name-too-long'), -32602, 'INVALID_PARAMS');
    await refused(t, admin.call('vpc.get', { id: 'vpc-none' }), 404, 'VPC_NOT_FOUND');
    await vpc('vpc-b', 'acme', ['10.1.0.0/16', 'fd00:b::/64'], 'br-b');
    await vpc('vpc-c', 'acme', ['10.2.0.0/16'], 'br-c');
    await vpc('vpc-d', 'acme', ['10.1.128.0/17'], 'br-d');
    await vpc('vpc-e', 'acme', ['10.0.128.0/17'], 'br-e');
    await vpc('vpc-z', 'zeta', ['10.50.0.0/16'], 'br-z');
  });

  let ab = '';
  t.test('peering rules and lifecycle', async (t) => {
    const create = (r: string, a: string): Promise<{ id: string; status: string }> =>
      admin.call('peering.create', { requesterVpcId: r, accepterVpcId: a }) as Promise<{ id: string; status: string }>;
    await refused(t, create('vpc-a', 'vpc-a'), 409, 'SELF_PEERING');
    await refused(t, create('vpc-a', 'vpc-e'), 409, 'CIDR_OVERLAP');
    await refused(t, create('vpc-a', 'vpc-z'), 409, 'CROSS_TENANT');
    const p = await create('vpc-a', 'vpc-b');
    ab = p.id;
    t.match(p, { status: 'pending-acceptance', id: /^pcx-[0-9a-f]{17}$/ });
    await refused(t, create('vpc-b', 'vpc-a'), 409, 'DUPLICATE_PEERING');
    await refused(t, create('vpc-a', 'vpc-d'), 409, 'PEER_CIDR_OVERLAP');
    await refused(t, admin.call('vpc.delete', { id: 'vpc-a' }), 409, 'VPC_IN_USE').then((e) =>
      t.same((e.data as { peerings: string[] }).peerings, [ab]),
    );
    await refused(t, admin.call('vpc.update', { id: 'vpc-b', cidrs: ['10.3.0.0/16'] }), 409, 'CIDR_LOCKED');
    t.match(await admin.call('peering.accept', { id: ab }), { status: 'active', acceptedBy: 'operator@test-node' });
    await refused(t, admin.call('peering.accept', { id: ab }), 409, 'INVALID_STATE');
    await refused(t, admin.call('peering.reject', { id: ab }), 409, 'INVALID_STATE');
    t.match(await admin.call('peering.get', { id: ab }), { status: 'active', dataplane: { state: 'disabled', flows: 0 } });
    // maxActivePerVpc is 1 here: a second active peering of vpc-b is refused.
    await refused(t, create('vpc-c', 'vpc-b'), 409, 'LIMIT_EXCEEDED');
    await refused(t, admin.call('peering.get', { id: 'pcx-00000000000000000' }), 404, 'PEERING_NOT_FOUND');
    const list = (await admin.call('peering.list', { vpcId: 'vpc-a' })) as { items: { id: string }[] };
    t.same(list.items.map((i) => i.id), [ab]);
  });

  t.test('identity: 401, 403, 404 across tenants', async (t) => {
    const acmeReader = await d.token({ tenant: 'acme', perms: ['vpc:read', 'vpc_peering:read'] });
    const zetaAll = await d.token({ tenant: 'zeta', perms: ['*'] });
    const acmePeerer = await d.token({ tenant: 'acme', perms: ['vpc_peering:*', 'vpc:*'] });
    const c = await d.client();
    await refused(t, c.call('vpc.list', {}), 401, 'UNAUTHENTICATED');
    t.match(await c.call('vpc.get', { id: 'vpc-a', auth: acmeReader }), { id: 'vpc-a' }, 'params.auth works');
    await refused(t, c.call('vpc.delete', { id: 'vpc-c', auth: acmeReader }), 403, 'FORBIDDEN');
    await refused(t, c.call('status', { auth: acmeReader }), 403, 'FORBIDDEN');
    await refused(t, c.call('vpc.get', { id: 'vpc-a', auth: zetaAll }), 404, 'VPC_NOT_FOUND');
    await refused(t, c.call('peering.get', { id: ab, auth: zetaAll }), 404, 'PEERING_NOT_FOUND');
    await refused(t, c.call('peering.delete', { id: ab, auth: zetaAll }), 404, 'PEERING_NOT_FOUND');
    await refused(t, c.call('status', { auth: zetaAll }), 403, 'OPERATOR_ONLY');
    t.same(await c.call('vpc.list', { auth: zetaAll }), { items: [(await admin.call('vpc.get', { id: 'vpc-z' })) as object] });
    await refused(t, c.call('vpc.create', { id: 'vpc-y', tenantId: 'acme', cidrs: ['10.60.0.0/16'], bridge: 'br-y', auth: zetaAll }), 403, 'TENANT_MISMATCH');
    // A tenant principal cannot even see the other tenant's VPC it would peer with.
    await refused(t, c.call('peering.create', { requesterVpcId: 'vpc-c', accepterVpcId: 'vpc-z', auth: acmePeerer }), 404, 'VPC_NOT_FOUND');

    // auth.login binds the connection; params.auth still wins per call.
    t.match(await c.call('auth.login', { token: acmeReader }), { tenant: 'acme', sub: 'user-1' });
    t.ok(await c.call('vpc.list', {}), 'logged-in connection works without params.auth');
    await refused(t, c.call('vpc.get', { id: 'vpc-a', auth: zetaAll }), 404, 'VPC_NOT_FOUND');

    const expired = await d.token({ tenant: 'acme', perms: ['*'], expSeconds: -120 });
    await refused(t, c.call('vpc.list', { auth: expired }), 401, 'TOKEN_EXPIRED');
    const forged = acmeReader.slice(0, acmeReader.lastIndexOf('.') + 1) + 'AAAA' + acmeReader.slice(acmeReader.lastIndexOf('.') + 5);
    await refused(t, c.call('vpc.list', { auth: forged }), 401, 'TOKEN_INVALID');
    const [h, p] = acmeReader.split('.');
    const noneAlg = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.`;
    await refused(t, c.call('vpc.list', { auth: noneAlg }), 401, 'TOKEN_INVALID');
    t.ok(h, 'token has a header');
    await refused(t, c.call('auth.login', { token: 'garbage' }), 401, 'TOKEN_INVALID');
  });

  t.test('protocol errors leave the daemon serving', async (t) => {
    const parse = await rawExchange(d.socketPath, '{"jsonrpc":"2.0","id":1,"method":\n', 1);
    t.match(parse.lines[0], { id: null, error: { code: -32700 } });
    const invalid = await rawExchange(d.socketPath, '{"jsonrpc":"1.0","id":1,"method":"status"}\n', 1);
    t.match(invalid.lines[0], { error: { code: -32600 } });
    const unknown = await rawExchange(d.socketPath, '{"jsonrpc":"2.0","id":7,"method":"vpc.explode","params":{}}\n', 1);
    t.match(unknown.lines[0], { id: 7, error: { code: -32601 } });
    const empty = await rawExchange(d.socketPath, '[]\n', 1);
    t.match(empty.lines[0], { error: { code: -32600 } });
    const oneBatch = await rawExchange(d.socketPath, '[{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}]\n', 1);
    t.ok(Array.isArray(oneBatch.lines[0]), 'a batch of one gets an array');
    const tooMany = JSON.stringify(Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'rpc.discover' })));
    const big = await rawExchange(d.socketPath, tooMany + '\n', 1);
    t.match(big.lines[0], { error: { code: -32600 } });
    const notification = await rawExchange(
      d.socketPath,
      '{"jsonrpc":"2.0","method":"status"}\n{"jsonrpc":"2.0","id":"after","method":"rpc.discover"}\n',
      1,
    );
    t.match(notification.lines, [{ id: 'after' }], 'a notification gets no reply');
    const long = await rawExchange(d.socketPath, 'x'.repeat(1024 * 1024 + 10), 1);
    t.match(long.lines[0], { id: null, error: { code: -32600, data: { reason: 'LINE_TOO_LONG' } } });
    const closedAfter = await rawExchange(d.socketPath, 'y'.repeat(1024 * 1024 + 10), 0);
    t.ok(closedAfter.closed, 'the connection is closed after an oversized line');
    const deep = await rawExchange(d.socketPath, `${'['.repeat(100)}${']'.repeat(100)}\n`, 1);
    t.match(deep.lines[0], { id: null, error: { code: -32600, data: { reason: 'NESTING_TOO_DEEP' } } });
    reachedRaw([parse, invalid, unknown, empty, big, long, deep].map((r) => r.lines));
    await refused(t, admin.call('vpc.get', { id: 42 }), -32602, 'INVALID_PARAMS').then((e) =>
      t.match(e.data, { field: 'id' }),
    );
    await refused(t, admin.call('vpc.create', { id: 'vpc-q', tenantId: 'acme', cidrs: '10.0.0.0/8', bridge: 'b' }), -32602, 'INVALID_PARAMS');
    await refused(t, admin.call('peering.list', { status: 'sleeping' }), -32602, 'INVALID_PARAMS');
    await refused(t, admin.call('vpc.list', { unexpected: true }), -32602, 'INVALID_PARAMS');
    t.match(await admin.call('status', {}), { nodeId: 'test-node', ovs: { state: 'disabled' } }, 'still serving');
  });

  t.test('no-op mode: reconcile.run says OVS is disabled, peering.flows is 503, peering.get lists no bridges', async (t) => {
    t.match(await admin.call('reconcile.run', { dryRun: true }), { ovs: 'disabled', bridges: [], errors: [] });
    t.match(await admin.call('reconcile.run', { bridge: 'br-any', verbose: true }), { ovs: 'disabled' }, 'with a bridge, which no-op mode cannot look up');
    await refused(t, admin.call('peering.flows', { id: ab }), 503, 'OVS_DISABLED');
    t.match(await admin.call('peering.get', { id: ab }), { dataplane: { state: 'disabled', bridges: [] } });
    await refused(t, admin.call('peering.flows', { id: 'pcx-00000000000000000' }), 404, 'PEERING_NOT_FOUND');
  });

  t.test('rpc.discover documents exactly the served methods', async (t) => {
    const doc = (await admin.call('rpc.discover', {})) as { openrpc: string; methods: { name: string }[] };
    t.match(doc.openrpc, /^1\./);
    t.same(
      doc.methods.map((m) => m.name).sort(),
      ['auth.login', 'metrics', 'peering.accept', 'peering.create', 'peering.delete', 'peering.flows', 'peering.get', 'peering.list',
        'peering.reject', 'reconcile.run', 'rpc.discover', 'status', 'vpc.create', 'vpc.delete', 'vpc.get',
        'vpc.list', 'vpc.update'],
    );
  });

  t.test('teardown of the pair', async (t) => {
    t.match(await admin.call('peering.delete', { id: ab }), { status: 'deleted', statusReason: /./ });
    t.match(await admin.call('vpc.delete', { id: 'vpc-a' }), { id: 'vpc-a', deleted: true });
  });

  t.test('every catalogue reason was reached', async (t) => {
    const missing = Object.keys(Catalogue).filter(
      (r) => !reached.has(r) && !NOT_REACHABLE_FROM_OUTSIDE.includes(r as Reason) && !NEED_OVS.includes(r as Reason),
    );
    t.same(missing, [], 'reasons never produced over the socket');
  });
  t.teardown(() => admin.close());
});

t.test('pending requests expire and terminal records are compacted', async (t) => {
  const d = await startDaemon(t, {
    config: { peering: { pendingTtlSeconds: 1, terminalRetentionSeconds: 1, sweepIntervalMs: 50 } },
  });
  const admin: RpcClient = await d.admin();
  await admin.call('vpc.create', { id: 'a', tenantId: 't', cidrs: ['10.0.0.0/16'], bridge: 'ba' });
  await admin.call('vpc.create', { id: 'b', tenantId: 't', cidrs: ['10.1.0.0/16'], bridge: 'bb' });
  const p = (await admin.call('peering.create', { requesterVpcId: 'a', accepterVpcId: 'b' })) as { id: string };
  const seen = await pollStatus(admin, p.id, (s) => s === 'expired' || s === 'gone', 5000);
  t.ok(seen.includes('expired'), `went through expired (saw ${seen.join(' → ')})`);
  const end = await pollStatus(admin, p.id, (s) => s === 'gone', 5000);
  t.equal(end.at(-1), 'gone', 'compacted after the retention');
  await admin.close();
});

/** Polls peering.get until `done(status)`; returns the statuses seen ('gone' for 404). */
async function pollStatus(c: RpcClient, id: string, done: (s: string) => boolean, deadlineMs: number): Promise<string[]> {
  const seen: string[] = [];
  const until = Date.now() + deadlineMs;
  for (;;) {
    const s = await c.call('peering.get', { id }).then(
      (p) => (p as { status: string }).status,
      () => 'gone',
    );
    if (seen.at(-1) !== s) seen.push(s);
    if (done(s) || Date.now() > until) return seen;
    await new Promise((r) => setTimeout(r, 25));
  }
}
