// The permission table of SPEC §4 as the daemon serves it: every method spec declares what it
// needs, the dispatcher alone enforces it, and the order of refusals is the same for every
// method — no principal 401, a missing permission 403 FORBIDDEN, a tenant on an operator-only
// method 403 OPERATOR_ONLY, and only then the params (-32602) and the method's own answer. Run
// against a real daemon built in this process (its real method table and dispatcher).
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { Permissions } from '../../../src/domain/rbac.js';
import type { OpenRpcDocument } from '../../../src/rpc/discover.js';
import { inProcessDaemon, type RpcReply } from '../../helpers/daemon.js';

interface Need {
  readonly permission: (typeof Permissions)[number];
  readonly operatorOnly?: true;
  /** Params that pass validation (the answer may still be a refusal of the method's own, e.g. 404). */
  readonly params: Record<string, unknown>;
}

const PCX = 'pcx-00000000000000001';

// SPEC §4 and the README's table: the expectation, written out independently of the code.
const TABLE: Readonly<Record<string, Need | 'public'>> = {
  'auth.login': 'public',
  'rpc.discover': 'public',
  status: { permission: 'daemon:status', operatorOnly: true, params: {} },
  metrics: { permission: 'daemon:status', operatorOnly: true, params: {} },
  'reconcile.run': { permission: 'daemon:reconcile', operatorOnly: true, params: { dryRun: true } },
  'vpc.create': { permission: 'vpc:create', params: { id: 'vpc-n', tenantId: 't1', cidrs: ['10.9.0.0/16'], bridge: 'br-n' } },
  'vpc.update': { permission: 'vpc:update', params: { id: 'vpc-none', name: 'n' } },
  'vpc.get': { permission: 'vpc:read', params: { id: 'vpc-a' } },
  'vpc.list': { permission: 'vpc:read', params: {} },
  'vpc.delete': { permission: 'vpc:delete', params: { id: 'vpc-none' } },
  'peering.create': { permission: 'vpc_peering:create', params: { requesterVpcId: 'vpc-none', accepterVpcId: 'vpc-a' } },
  'peering.accept': { permission: 'vpc_peering:accept', params: { id: PCX } },
  'peering.reject': { permission: 'vpc_peering:reject', params: { id: PCX } },
  'peering.delete': { permission: 'vpc_peering:delete', params: { id: PCX } },
  'peering.get': { permission: 'vpc_peering:read', params: { id: PCX } },
  'peering.flows': { permission: 'vpc_peering:read', params: { id: PCX } },
  'peering.list': { permission: 'vpc_peering:read', params: {} },
};

const AUTH_REFUSALS = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'OPERATOR_ONLY']);
const reasonOf = (r: RpcReply): string | undefined => r.error?.data?.reason;
const READ_ONLY = ['vpc:read', 'vpc_peering:read'];

t.test('permissions through the dispatcher, one method at a time', async (t) => {
  const d = await inProcessDaemon(t);
  const served = d.daemon.dispatcher().methods;

  t.test('every method spec declares the permission of the table', async (t) => {
    t.same(served.map((m) => m.name).sort(), Object.keys(TABLE).sort(), 'the table lists exactly the methods served');
    for (const spec of served) {
      const want = TABLE[spec.name];
      if (want === 'public' || want === undefined) {
        t.equal(spec.auth, 'none', `${spec.name}: public`);
        continue;
      }
      t.equal(spec.auth, 'required', `${spec.name}: needs a principal`);
      if (spec.auth !== 'required') continue;
      t.ok(Permissions.includes(spec.permission), `${spec.name}: ${spec.permission} is a permission of SPEC §4`);
      t.same([spec.permission, spec.operatorOnly ?? false], [want.permission, want.operatorOnly ?? false], `${spec.name}: ${want.permission}`);
    }
    const doc = (await d.call('rpc.discover', {}, d.connection())).result as OpenRpcDocument;
    for (const m of doc.methods) {
      const want = TABLE[m.name];
      t.same(
        [m['x-permission'], m['x-operator-only']],
        want === 'public' || want === undefined ? [undefined, undefined] : [want.permission, want.operatorOnly],
        `rpc.discover shows who may call ${m.name}`,
      );
    }
  });

  // A tenant's VPC, so that the reads have something to find.
  t.equal(reasonOf(await d.call('vpc.create', { id: 'vpc-a', tenantId: 't1', cidrs: ['10.0.0.0/16'], bridge: 'br-a' })), undefined);

  for (const [method, need] of Object.entries(TABLE)) {
    if (need === 'public') continue;
    t.test(method, async (t) => {
      const others = Permissions.filter((p) => p !== need.permission);
      const as = async (claims: { tenant: string; perms: string[] } | null, params: Record<string, unknown>): Promise<RpcReply> =>
        d.call(method, claims === null ? params : { ...params, auth: await d.token({ sub: 'perm-test', ...claims }) }, d.connection());
      const bad = { ...need.params, bogus: 1 };
      const principals = {
        nobody: null,
        'a tenant with every other permission': { tenant: 't1', perms: others },
        'a tenant with only this permission': { tenant: 't1', perms: [need.permission] },
        'a read-only tenant': { tenant: 't1', perms: READ_ONLY },
        'an operator with every other permission': { tenant: '*', perms: others },
        'an operator with only this permission': { tenant: '*', perms: [need.permission] },
      };
      for (const [who, claims] of Object.entries(principals)) {
        const holds = claims !== null && claims.perms.includes(need.permission);
        const want =
          claims === null ? 'UNAUTHENTICATED' : !holds ? 'FORBIDDEN' : need.operatorOnly && claims.tenant !== '*' ? 'OPERATOR_ONLY' : 'allowed';
        for (const [what, params] of [['valid params', need.params], ['params it refuses', bad]] as const) {
          const reply = await as(claims, params);
          const got = reasonOf(reply);
          if (want === 'allowed') {
            t.notOk(AUTH_REFUSALS.has(got ?? ''), `${who}, ${what}: not refused by authorisation (${got ?? 'ok'})`);
            if (params === bad) t.same([reply.error?.code, got], [-32602, 'INVALID_PARAMS'], `${who}: then the params are checked`);
          } else {
            t.equal(got, want, `${who}, ${what}: ${want}, before the params`);
            if (want === 'FORBIDDEN') t.match(reply.error, { code: 403, data: { permission: need.permission } }, `${who}: names ${need.permission}`);
          }
        }
      }
    });
  }
});

t.test('the permission is checked in one place: no method or domain module checks it again', async (t) => {
  const dirs = ['src/rpc/methods', 'src/domain', 'src/gossip', 'src/store'];
  for (const dir of dirs) {
    for (const file of readdirSync(new URL(`../../../${dir}/`, import.meta.url)).filter((f) => f.endsWith('.ts'))) {
      if (`${dir}/${file}` === 'src/domain/rbac.ts') continue;
      const src = readFileSync(new URL(`../../../${dir}/${file}`, import.meta.url), 'utf8');
      t.notMatch(src, /\b(requirePermission|requireOperator|hasPermission)\b/, `${dir}/${file} leaves permissions to the dispatcher`);
    }
  }
  const dispatcher = readFileSync(new URL('../../../src/rpc/dispatcher.ts', import.meta.url), 'utf8');
  t.match(dispatcher, /requirePermission\(principal, spec\.permission\)/, 'the dispatcher checks what the spec declares');
});
