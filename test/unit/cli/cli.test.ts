import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { z } from 'zod';
import { runCli } from '../../../src/cli/run.js';
import { RpcError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createDispatcher } from '../../../src/rpc/dispatcher.js';
import { defineMethod, type MethodSpec } from '../../../src/rpc/method.js';
import { createRpcServer } from '../../../src/rpc/server.js';
import { fakeAuthenticate } from '../../helpers/rpc-fakes.js';

const VPC_A = {
  id: 'vpc-a', tenantId: 't1', name: 'web', cidrs: ['10.0.0.0/16', '10.1.0.0/16'], bridge: 'br-a',
  createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
};
const VPC_LONG = { ...VPC_A, id: 'vpc-with-a-long-id', name: undefined, cidrs: ['fd00::/48'], bridge: 'br-long' };
const PCX_PENDING = {
  id: 'pcx-0123456789abcdef0', tenantId: 't1', requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-with-a-long-id',
  status: 'pending-acceptance', requestedBy: 'alice', createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-08T00:00:00.000Z',
};
const PCX_REJECTED = { ...PCX_PENDING, id: 'pcx-fffffffffffffffff', status: 'rejected', statusReason: 'Rejected by bob.' };

interface Seen {
  method: string;
  params: unknown;
}

/** A fake daemon: the real server and dispatcher with canned API methods that record their params. */
async function fakeDaemon(t: Test): Promise<{ path: string; dir: string; seen: Seen[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'peerctl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'd.sock');
  const seen: Seen[] = [];
  const canned = (name: string, result: (params: Record<string, unknown>) => unknown): MethodSpec =>
    defineMethod({
      name,
      summary: name,
      auth: 'required',
      params: z.looseObject({}),
      handler: (params, { principal }) => {
        seen.push({ method: name, params: { ...params, principal: principal.sub } });
        return result(params);
      },
    });
  const methods = [
    canned('vpc.create', (p) => ({ ...VPC_A, ...p })),
    canned('vpc.get', (p) => {
      if (p.id !== 'vpc-a') throw new RpcError('VPC_NOT_FOUND', `No VPC ${String(p.id)}.`);
      return VPC_A;
    }),
    canned('vpc.update', (p) => ({ ...VPC_A, ...p })),
    canned('vpc.list', () => ({ items: [VPC_A, VPC_LONG] })),
    canned('vpc.delete', (p) => {
      if (p.id === 'vpc-a') throw new RpcError('VPC_IN_USE', 'VPC vpc-a has 1 live peering.', { peerings: ['pcx-1'] });
      return { id: p.id, deleted: true };
    }),
    canned('peering.create', () => PCX_PENDING),
    canned('peering.accept', () => ({ ...PCX_PENDING, status: 'active', acceptedBy: 'alice' })),
    canned('peering.get', () => ({ ...PCX_PENDING, dataplane: { state: 'disabled', flows: 0, lastReconciledAt: null } })),
    canned('peering.list', () => ({ items: [PCX_PENDING, PCX_REJECTED] })),
    canned('reconcile.run', () => ({ bridges: ['br-a', 'br-b'], added: 4, removed: 1, unchanged: 10, durationMs: 12.4, errors: [{ bridge: 'br-b', error: 'ovs-ofctl failed' }] })),
    canned('status', () => ({
      version: '0.1.0', nodeId: 'hv-01', startedAt: 'x', uptimeSeconds: 3725,
      store: { path: '/var/lib/vpc-peerd/state.json', records: 3 },
      ovs: { state: 'disabled', reason: 'ovs.enabled is false', bridges: [], lastError: null, driftRepaired: 0 },
      gossip: { enabled: false, peers: [] },
      counts: { vpcs: 2, peerings: { active: 1, 'pending-acceptance': 1, rejected: 0 } },
    })),
  ];
  const dispatcher = createDispatcher({ methods, authenticate: fakeAuthenticate, logger: silentLogger(), maxBatchSize: 10 });
  const server = createRpcServer({ path, mode: 0o660, group: null, maxLineBytes: 1 << 20, maxConnections: 8, dispatcher, logger: silentLogger() });
  await server.listen();
  t.teardown(() => server.close());
  return { path, dir, seen };
}

async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env });
  return { code, out, err };
}

t.test('usage errors exit 2 with the usage on stderr, before any connection', async (t) => {
  const cases = [
    [],
    ['frobnicate'],
    ['vpc'],
    ['vpc', 'get'],
    ['vpc', 'get', 'a', 'b'],
    ['vpc', 'create', '--id', 'a', '--tenant', 't1', '--bridge', 'br'],
    ['vpc', 'update', 'a'],
    ['vpc', 'list', '--bridge', 'x'],
    ['peering', 'create', '--requester', 'a'],
    ['status', '--nope'],
    ['status', '--socket'],
    ['--token', 'x', '--token-file', 'f', 'status'],
    ['call'],
    ['call', 'm', 'not json'],
    ['call', 'm', '[1]'],
  ];
  for (const argv of cases) {
    const r = await cli([...argv, '--socket', '/nonexistent/d.sock']);
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.err, /^error: .*\n\nusage: vpc-peerctl/s);
    t.equal(r.out, '');
  }
  const help = await cli(['--help']);
  t.same([help.code, help.err], [0, '']);
  t.match(help.out, /peering accept\|reject\|delete\|get ID/);
});

t.test('an unreachable daemon exits 1 with a clear message', async (t) => {
  const r = await cli(['--socket', '/nonexistent/d.sock', 'status']);
  t.equal(r.code, 1);
  t.match(r.err, 'cannot reach vpc-peerd at /nonexistent/d.sock: is it running?');
});

t.test('commands map to calls with the token as params.auth', async (t) => {
  const { path, seen } = await fakeDaemon(t);
  const base = ['--socket', path, '--token', 'alice-token'];
  const run = async (...argv: string[]) => {
    const r = await cli([...base, ...argv]);
    t.equal(r.code, 0, `${argv.join(' ')}: ${r.err}`);
    return seen.at(-1);
  };
  t.same(await run('vpc', 'create', '--id', 'vpc-a', '--tenant', 't1', '--cidr', '10.0.0.0/16', '--cidr', '10.1.0.0/16', '--bridge', 'br-a', '--name', 'web'), {
    method: 'vpc.create',
    params: { id: 'vpc-a', tenantId: 't1', cidrs: ['10.0.0.0/16', '10.1.0.0/16'], bridge: 'br-a', name: 'web', principal: 'alice' },
  });
  t.same((await run('vpc', 'update', 'vpc-a', '--name', 'api'))?.params, { id: 'vpc-a', name: 'api', principal: 'alice' });
  t.same((await run('vpc', 'list', '--tenant', 't1'))?.params, { tenantId: 't1', principal: 'alice' });
  t.same((await run('vpc', 'list'))?.params, { principal: 'alice' }, 'absent options are absent params');
  t.same(await run('peering', 'create', '--requester', 'vpc-a', '--accepter', 'vpc-b'), {
    method: 'peering.create',
    params: { requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-b', principal: 'alice' },
  });
  t.same(await run('peering', 'accept', 'pcx-1'), { method: 'peering.accept', params: { id: 'pcx-1', principal: 'alice' } });
  t.same((await run('peering', 'list', '--vpc', 'vpc-a', '--status', 'active'))?.params, { vpcId: 'vpc-a', status: 'active', principal: 'alice' });
  t.same((await run('reconcile', '--bridge', 'br-a', '--dry-run'))?.params, { bridge: 'br-a', dryRun: true, principal: 'alice' });
  t.same(await run('--json', 'call', 'vpc.get', '{"id":"vpc-a"}'), { method: 'vpc.get', params: { id: 'vpc-a', principal: 'alice' } });
  t.same((await run('call', 'vpc.get', '{"id":"vpc-a","auth":"bob-token"}'))?.params, { id: 'vpc-a', principal: 'bob' }, 'an explicit auth in call params is kept');
});

t.test('human output: tables, records, summaries', async (t) => {
  const { path } = await fakeDaemon(t);
  const run = (...argv: string[]) => cli(['--socket', path, '--token', 'alice-token', ...argv]);

  t.equal(
    (await run('vpc', 'list')).out,
    [
      'ID                  TENANT  BRIDGE   CIDRS                    NAME',
      'vpc-a               t1      br-a     10.0.0.0/16,10.1.0.0/16  web',
      'vpc-with-a-long-id  t1      br-long  fd00::/48                -',
      '',
    ].join('\n'),
  );
  t.equal(
    (await run('peering', 'list')).out,
    [
      'ID                     STATUS              REQUESTER  ACCEPTER            TENANT  EXPIRES/REASON',
      'pcx-0123456789abcdef0  pending-acceptance  vpc-a      vpc-with-a-long-id  t1      2026-01-08T00:00:00.000Z',
      'pcx-fffffffffffffffff  rejected            vpc-a      vpc-with-a-long-id  t1      Rejected by bob.',
      '',
    ].join('\n'),
  );
  const vpc = (await run('vpc', 'get', 'vpc-a')).out;
  t.match(vpc, /^id:\s+vpc-a\ntenantId:\s+t1\nname:\s+web\nbridge:\s+br-a\ncidrs:\s+10\.0\.0\.0\/16,10\.1\.0\.0\/16\n/);
  const pcx = (await run('peering', 'get', 'pcx-1')).out;
  t.match(pcx, /^id:\s+pcx-0123456789abcdef0\nstatus:\s+pending-acceptance\n/);
  t.match(pcx, /dataplane\.state:\s+disabled\n/);
  t.equal((await run('vpc', 'delete', 'vpc-b')).out, 'vpc vpc-b deleted\n');

  const reconcile = (await run('reconcile')).out;
  t.match(reconcile, /bridges:\s+br-a,br-b\nadded:\s+4\nremoved:\s+1\nunchanged:\s+10\nduration:\s+12 ms\nerrors:\s+1\n\s{2}br-b: ovs-ofctl failed\n/);
  t.match((await run('reconcile', '--dry-run')).out, /^dry run: nothing was changed\n/);

  const status = (await run('status')).out;
  t.match(status, /^version:\s+0\.1\.0\nnode:\s+hv-01\nuptime:\s+1h 2m 5s\nstore:\s+path=\/var\/lib\/vpc-peerd\/state\.json records=3\novs:\s+disabled \(ovs\.enabled is false\)/);
  t.match(status, /gossip:\s+enabled=false peers=-\nvpcs:\s+2\npeerings:\s+active=1 pending-acceptance=1\nstartedAt:\s+x\n$/, 'then counts, then the rest');
});

t.test('--json prints the raw result', async (t) => {
  const { path } = await fakeDaemon(t);
  const r = await cli(['--socket', path, '--token', 'alice-token', '--json', 'vpc', 'list']);
  t.equal(r.code, 0);
  t.same(JSON.parse(r.out), JSON.parse(JSON.stringify({ items: [VPC_A, VPC_LONG] })));
});

t.test('RPC errors exit 1 with message and reason on stderr', async (t) => {
  const { path } = await fakeDaemon(t);
  let r = await cli(['--socket', path, '--token', 'alice-token', 'vpc', 'get', 'nope']);
  t.same([r.code, r.out, r.err], [1, '', 'error: No VPC nope. (VPC_NOT_FOUND)\n']);

  r = await cli(['--socket', path, '--token', 'alice-token', '--json', 'vpc', 'delete', 'vpc-a']);
  t.equal(r.code, 1);
  t.same(JSON.parse(r.err), { error: { code: 409, message: 'VPC vpc-a has 1 live peering.', data: { peerings: ['pcx-1'], reason: 'VPC_IN_USE' } } });

  r = await cli(['--socket', path, '--token', 'forged', 'status']);
  t.same([r.code, r.err], [1, 'error: The token is not valid. (TOKEN_INVALID)\n']);

  r = await cli(['--socket', path, 'call', 'no.such']);
  t.equal(r.code, 1);
  t.match(r.err, /\(METHOD_NOT_FOUND\)/);
});

t.test('socket and token from --config, the environment and token files', async (t) => {
  const { path, dir, seen } = await fakeDaemon(t);
  const conf = join(dir, 'etc');
  mkdirSync(conf);
  writeFileSync(join(dir, 'admin.token'), 'alice-token\n');
  // Relative paths resolve against the config file's folder, as the daemon does.
  writeFileSync(join(conf, 'config.json'), JSON.stringify({ nodeId: 'x', socket: { path: '../d.sock' }, auth: { adminTokenFile: '../admin.token' } }));
  let r = await cli(['--config', join(conf, 'config.json'), 'vpc', 'get', 'vpc-a']);
  t.equal(r.code, 0, r.err);
  t.match(seen.at(-1)?.params, { principal: 'alice' });

  writeFileSync(join(dir, 'bob.token'), 'bob-token');
  r = await cli(['--socket', path, '--token-file', join(dir, 'bob.token'), 'vpc', 'list']);
  t.equal(r.code, 0, r.err);
  t.match(seen.at(-1)?.params, { principal: 'bob' });

  r = await cli(['--token', 'alice-token', 'vpc', 'list'], { VPC_PEERCTL_SOCKET: path });
  t.equal(r.code, 0, 'the environment names the socket');

  r = await cli(['--socket', path, '--token-file', join(dir, 'missing.token'), 'status']);
  t.same([r.code, r.err], [1, `error: cannot read token file ${join(dir, 'missing.token')}: no such file\n`]);

  writeFileSync(join(conf, 'no-token.json'), JSON.stringify({ socket: { path: '../d.sock' }, auth: { adminTokenFile: './none' } }));
  r = await cli(['--config', join(conf, 'no-token.json'), 'status']);
  t.equal(r.code, 1);
  t.match(r.err, /\(UNAUTHENTICATED\)\nhint: cannot read token file .*none: no such file; pass --token or --token-file\n/);

  writeFileSync(join(conf, 'bad.json'), '{ nope');
  r = await cli(['--config', join(conf, 'bad.json'), 'status']);
  t.equal(r.code, 1);
  t.match(r.err, /^error: cannot read config .*bad\.json/);
});
