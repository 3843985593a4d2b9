// vpc-peerctl in-process: exit code, stdout and stderr of each behaviour, against a fake daemon
// (the real RPC server and dispatcher with canned methods) — this tests the CLI's parsing and
// rendering, not the daemon's answers.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { z } from 'zod';
import { findRunningDaemons, transportProblem } from '../../../src/cli/hints.js';
import { runCli, type CliIo } from '../../../src/cli/run.js';
import { hostsSummary } from '../../../src/cli/render.js';
import { RpcTransportError } from '../../../src/rpc/client.js';
import { RpcError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createDispatcher } from '../../../src/rpc/dispatcher.js';
import { defineMethod, type MethodSpec } from '../../../src/rpc/method.js';
import { createRpcServer } from '../../../src/rpc/server.js';
import { VERSION } from '../../../src/version.js';
import { fakeAuthenticate, gate } from '../../helpers/rpc-fakes.js';

const FIXTURES = new URL('../../fixtures/cli/', import.meta.url);

const VPC_A = {
  id: 'vpc-a', tenantId: 't1', name: 'web', cidrs: ['10.0.0.0/16', '10.1.0.0/16'], bridge: 'br-a',
  createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
};
const VPC_LONG = { ...VPC_A, id: 'vpc-with-a-long-id', tenantId: 't2', name: undefined, cidrs: ['fd00::/48'], bridge: 'br-long' };
const PCX_PENDING = {
  id: 'pcx-0123456789abcdef0', tenantId: 't1', requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-with-a-long-id',
  name: 'a-to-long', status: 'pending-acceptance', requestedBy: 'alice', createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-08T00:00:00.000Z',
};
const PCX_REJECTED = { ...PCX_PENDING, id: 'pcx-fffffffffffffffff', name: undefined, status: 'rejected', statusReason: 'Rejected by bob.' };
const PCX_ACTIVE = { ...PCX_PENDING, id: 'pcx-aaaaaaaaaaaaaaaaa', tenantId: 't2', status: 'active', acceptedBy: 'bob' };
const HOSTS = [
  { nodeId: 'hv-01', state: 'programmed', flows: 6, at: '2026-01-01T00:00:05.000Z', heardAt: '2026-01-01T01:02:05.000Z' },
  { nodeId: 'hv-02', state: 'programmed', flows: 6, at: '2026-01-01T00:00:04.000Z', heardAt: '2026-01-01T01:02:02.000Z' },
  { nodeId: 'hv-03', state: 'error', flows: 0, at: '2026-01-01T00:00:03.000Z', heardAt: '2026-01-01T01:02:01.000Z', error: 'OVS is not answering' },
  { nodeId: 'hv-04', state: 'not-local', flows: 0, at: '2026-01-01T00:00:02.000Z', heardAt: '2026-01-01T01:02:00.000Z' },
  { nodeId: 'hv-05', state: 'unknown', flows: 6, at: '2026-01-01T00:00:01.000Z', heardAt: '2026-01-01T01:01:20.000Z', stale: true, lastState: 'programmed' },
];

const DATAPLANE = {
  state: 'programmed', flows: 6, lastReconciledAt: '2026-01-01T00:00:05.000Z', lastAttemptAt: '2026-01-01T00:00:05.000Z',
  bridges: [
    { bridge: 'br-a', patchPort: 'pa-0123456789ab', peerPatchPort: 'pb-0123456789ab', cookie: '0x5ee0000000000001', flows: 3 },
    { bridge: 'br-long', patchPort: 'pb-0123456789ab', peerPatchPort: 'pa-0123456789ab', cookie: '0x5ee0000000000001', flows: 3 },
  ],
};

/** The fixed daemon state of the status golden test. */
export const STATUS = {
  version: '0.1.0', nodeId: 'hv-01', startedAt: '2026-01-01T00:00:00.000Z', uptimeSeconds: 3725,
  store: {
    path: '/var/lib/vpc-peerd/state.json', state: 'ok', lastError: null, degradedSince: null, recoveries: 1,
    recovery: {
      snapshotRecords: 4100, journalEntries: 110, seq: 8881,
      droppedTail: { offset: 912001, bytes: 344, reason: 'torn last line', savedTo: null, intactRecords: 0 },
      warnings: ['the last line of the journal was torn (never acknowledged) and was cut off at byte 912001'],
    },
    records: 4210, lastWriteAt: '2026-01-01T01:02:00.000Z', journalBytes: 912345, seq: 9001, commits: 120, syncs: 80, compactions: 2,
  },
  ovs: {
    state: 'enabled', reason: null, bridges: ['br-a', 'br-b', 'br-c'], lastReconcileAt: '2026-01-01T01:02:04.000Z',
    lastReconcileDurationMs: 12.4, driftRepaired: 2, portsRepaired: 1, lastError: 'br-c: ovs-ofctl: br-c is not a bridge or a socket',
    desiredGeneration: 41, appliedGeneration: 40, restartsDetected: 1, channelsSynced: 2, channelDisagreements: 1,
    perBridge: {
      'br-a': { ok: true, at: '2026-01-01T01:02:04.000Z', durationMs: 4, added: 0, removed: 0, error: null },
      'br-c': { ok: false, at: '2026-01-01T01:02:04.000Z', durationMs: 3, added: 0, removed: 0, error: 'ovs-ofctl: br-c is not a bridge or a socket' },
    },
  },
  gossip: { enabled: true, peers: [{ nodeId: 'hv-02', connected: true, lastSyncAt: '2026-01-01T01:02:03.000Z' }, { nodeId: 'hv-03', connected: false, lastSyncAt: null, lastError: 'connect ECONNREFUSED 10.0.0.3:7946' }] },
  counts: { vpcs: 2104, peerings: { 'pending-acceptance': 3, active: 12, rejected: 0, deleted: 2, expired: 0, failed: 0 } },
};
const NOW = new Date('2026-01-01T01:02:05.000Z');

interface Seen {
  method: string;
  params: unknown;
}

type Handler = (params: Record<string, unknown>) => unknown;

/** A fake daemon: the real server and dispatcher with canned API methods that record their params. */
async function fakeDaemon(t: Test, overrides: Record<string, Handler> = {}): Promise<{ path: string; dir: string; seen: Seen[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'peerctl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'd.sock');
  const seen: Seen[] = [];
  const handlers: Record<string, Handler> = {
    'vpc.create': (p) => ({ ...VPC_A, ...p }),
    'vpc.get': (p) => {
      if (p.id !== 'vpc-a') throw new RpcError('VPC_NOT_FOUND', `No VPC ${String(p.id)}.`);
      return VPC_A;
    },
    'vpc.update': (p) => ({ ...VPC_A, ...p }),
    'vpc.list': () => ({ items: [VPC_A, VPC_LONG] }),
    'vpc.delete': (p) => {
      if (p.id === 'vpc-a') throw new RpcError('VPC_IN_USE', 'VPC vpc-a has 1 live peering.', { peerings: ['pcx-1'] });
      return { id: p.id, deleted: true };
    },
    'peering.create': () => PCX_PENDING,
    'peering.accept': () => ({ ...PCX_PENDING, status: 'active', acceptedBy: 'alice' }),
    'peering.get': () => ({ ...PCX_ACTIVE, dataplane: DATAPLANE, hosts: HOSTS }),
    'peering.list': (p) => ({ items: [PCX_PENDING, PCX_REJECTED, PCX_ACTIVE].filter((x) => p.status === undefined || x.status === p.status) }),
    'peering.flows': (p) => ({
      id: p.id,
      bridges: [
        { bridge: 'br-a', flows: ['cookie=0x5ee0000000000001, table=0, priority=100,ip,in_port=pa-0123456789ab,nw_dst=10.0.0.0/16 actions=NORMAL', 'cookie=0x5ee0000000000001, table=0, priority=100,arp,in_port=pa-0123456789ab actions=NORMAL'] },
        { bridge: 'br-long', flows: [] },
      ],
    }),
    'reconcile.run': (p) => ({
      ovs: 'enabled', bridges: ['br-a', 'br-b'], added: 2, removed: 1, unchanged: 10, durationMs: 12.4,
      errors: p.bridge === 'br-a' ? [] : [{ bridge: 'br-b', reason: 'OVS_UNAVAILABLE', error: 'ovs-ofctl failed: no such bridge' }],
      ...(p.dryRun === true || p.verbose === true
        ? { changes: [{ bridge: 'br-a', addFlows: ['table=0,priority=100,ip,in_port=7,nw_dst=10.1.0.0/16,actions=output:8', 'table=0,priority=100,arp,in_port=7,arp_tpa=10.1.0.0/16,actions=output:8'], removeFlows: ['table=0,priority=100,ip,in_port=9,nw_dst=10.9.0.0/16'], addPorts: ['pa-1 (peer=pb-1)'], removePorts: [] }] }
        : {}),
    }),
    status: () => STATUS,
    ...overrides,
  };
  const methods: MethodSpec[] = Object.entries(handlers).map(([name, result]) =>
    defineMethod({
      name,
      summary: name,
      auth: 'required',
      permission: 'vpc:read', // every principal of fakeAuthenticate holds it
      params: z.looseObject({}),
      handler: (params, { principal }) => {
        seen.push({ method: name, params: { ...params, principal: principal.sub } });
        return result(params);
      },
    }),
  );
  const dispatcher = createDispatcher({ methods, authenticate: fakeAuthenticate, logger: silentLogger(), maxBatchSize: 10 });
  const server = createRpcServer({ path, mode: 0o660, group: null, maxLineBytes: 1 << 20, maxConnections: 8, dispatcher, logger: silentLogger() });
  await server.listen();
  t.teardown(() => server.close());
  return { path, dir, seen };
}

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(argv: string[], opts: { env?: Record<string, string>; tty?: boolean; signal?: AbortSignal; onOut?: (s: string) => void } = {}): Promise<Run> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => { out += s; opts.onOut?.(s); }, isTTY: opts.tty },
    stderr: { write: (s: string) => (err += s) },
    env: opts.env ?? {},
    signal: opts.signal,
    now: () => NOW,
  };
  const code = await runCli(argv, io);
  return { code, out, err };
}

t.test('usage errors exit 2 with what is wrong and where help is, before any connection', async (t) => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^error: unknown command 'frobnicate'\n/],
    [['vpc', 'creat'], /^error: unknown command 'creat'\n\(Did you mean create\?\)\nRun 'vpc-peerctl vpc --help' for usage\.\n$/],
    [['vpc', 'get'], /^error: missing required argument 'id'\nRun 'vpc-peerctl vpc get --help'/],
    [['vpc', 'get', 'a', 'b'], /too many arguments/],
    [['vpc', 'create', '--id', 'a', '--tenant', 't1', '--bridge', 'br'], /^error: missing --cidr, which is required\n/],
    [['vpc', 'update', 'a'], /nothing to update: give --name or --cidr/],
    [['vpc', 'list', '--bridge', 'x'], /^error: unknown option '--bridge'\n/],
    [['peering', 'create', '--requester', 'a', '--acceptor', 'b'], /^error: unknown option '--acceptor'\n\(Did you mean --accepter\?\)\nRun 'vpc-peerctl peering create --help' for usage\.\n$/],
    [['status', '--config'], /argument missing/],
    [['--token', 'x', '--token-file', 'f', 'status'], /cannot be used with/],
    [['reconcile', '--bridge', 'a', '--bridge', 'b'], /^error: --bridge was given twice; give it once\nRun 'vpc-peerctl reconcile --help'/],
    [['--socket', 'a', 'status'], /^error: --socket was given twice/],
    [['peering', 'list', '--status', 'actve'], /^error: --status must be one of pending-acceptance, active, .* not "actve"\n/],
    [['peering', 'wait', 'pcx-1'], /missing --for, which is required/],
    [['peering', 'wait', 'pcx-1', '--for', 'gone'], /--for must be one of active, programmed, deleted/],
    [['--timeout', '0', 'status'], /--timeout takes a number of seconds of at least 0\.1, not "0"/],
    [['status', '--watch', 'soon'], /--watch takes a number of seconds/],
    [['completion', 'fish'], /completion is for bash or zsh/],
    [['call'], /missing required argument 'method'/],
    [['call', 'm', 'not json'], /the params of call must be JSON/],
    [['call', 'm', '[1]'], /must be a JSON object/],
  ];
  for (const [argv, expected] of cases) {
    const r = await cli(['--socket', '/nonexistent/d.sock', ...argv]);
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.err, expected, argv.join(' '));
    t.notMatch(r.err, /positional argument|place it at the end|ERR_PARSE/, 'no parser-internal wording');
    t.equal(r.out, '');
  }
});

t.test('help where you are: per-command help with a sentence per option and an example', async (t) => {
  const create = await cli(['vpc', 'create', '--help']);
  t.same([create.code, create.err], [0, '']);
  for (const option of ['--id <id>', '--tenant <tenant>', '--cidr <cidr>', '--bridge <bridge>', '--name <name>']) {
    t.match(create.out, new RegExp(`^  ${option.replace(/[[\]<>]/g, '\\$&')}\\s+\\S.*`, 'm'), option);
  }
  t.match(create.out, /Example:\n {2}\$ vpc-peerctl vpc create --id vpc-a /);
  t.match(create.out, /Global Options:[^]*--socket <path>/);

  for (const argv of [['peering', '--help'], ['help', 'peering'], ['reconcile', '--help'], ['peering', 'wait', '--help']]) {
    const r = await cli(argv);
    t.equal(r.code, 0, argv.join(' '));
    t.match(r.out, /^Usage: vpc-peerctl /, argv.join(' '));
  }
  t.match((await cli(['peering', '--help'])).out, /Commands:\n {2}create \[options\][^]* {2}wait \[options\] <id>[^]*Examples:\n {2}\$ vpc-peerctl peering create /, "a group has examples too");
  t.match((await cli(['reconcile', '--help'])).out, /--dry-run\s+change nothing[^]*Examples:/);
  t.match((await cli(['peering', 'list', '--help'])).out, /-q, --quiet\s+print only the ids/);

  const vpc = await cli(['vpc']);
  t.equal(vpc.code, 2, 'a group without its subcommand is incomplete');
  t.match(vpc.err, /Commands:\n {2}create \[options\]\s+Create a VPC[^]* {2}delete <id>/, 'it lists its subcommands');

  const top = await cli([]);
  t.equal(top.code, 2);
  t.match(top.err, /Commands:\n {2}status[^]*Exit status:\n {2}0 {2}success\n {2}1 {2}the daemon refused/);

  const version = await cli(['--version']);
  t.same([version.code, version.out, version.err], [0, `${VERSION}\n`, '']);
});

t.test('commands map to calls with the token as params.auth; options before or after the command', async (t) => {
  const { path, seen } = await fakeDaemon(t);
  const run = async (...argv: string[]) => {
    const r = await cli([...argv, '--socket', path, '--token', 'alice-token']);
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
  t.same(await run('peering', 'flows', 'pcx-1'), { method: 'peering.flows', params: { id: 'pcx-1', principal: 'alice' } });
  t.same((await run('peering', 'list', '--vpc', 'vpc-a', '--status', 'active'))?.params, { vpcId: 'vpc-a', status: 'active', principal: 'alice' }, 'one status: the daemon filters');
  t.same((await run('peering', 'list', '--status', 'active', '--status', 'rejected'))?.params, { principal: 'alice' }, 'several: vpc-peerctl does');
  t.same((await run('reconcile', '--bridge', 'br-a', '--dry-run'))?.params, { bridge: 'br-a', dryRun: true, principal: 'alice' });
  t.same((await run('reconcile', '--bridge', 'br-a', '--verbose'))?.params, { bridge: 'br-a', verbose: true, principal: 'alice' });
  t.same(await run('--json', 'call', 'vpc.get', '{"id":"vpc-a"}'), { method: 'vpc.get', params: { id: 'vpc-a', principal: 'alice' } });
  t.same((await run('call', 'vpc.get', '{"id":"vpc-a","auth":"bob-token"}'))?.params, { id: 'vpc-a', principal: 'bob' }, 'an explicit auth in call params is kept');
  const before = await cli(['--socket', path, '--json', '--token', 'alice-token', 'vpc', 'get', 'vpc-a']);
  t.same(JSON.parse(before.out), VPC_A, 'global options before the command work too');
});

t.test('human output: tables with a NAME column, records, per-bridge data plane, flows', async (t) => {
  const { path } = await fakeDaemon(t);
  const run = (...argv: string[]) => cli(['--socket', path, '--token', 'alice-token', ...argv]);

  t.equal(
    (await run('vpc', 'list')).out,
    [
      'ID                  TENANT  BRIDGE   CIDRS                    NAME',
      'vpc-a               t1      br-a     10.0.0.0/16,10.1.0.0/16  web',
      'vpc-with-a-long-id  t2      br-long  fd00::/48                -',
      '',
    ].join('\n'),
  );
  t.equal(
    (await run('peering', 'list', '--status', 'pending-acceptance', '--status', 'rejected')).out,
    [
      'ID                     NAME       STATUS              REQUESTER  ACCEPTER            TENANT  EXPIRES/REASON',
      'pcx-0123456789abcdef0  a-to-long  pending-acceptance  vpc-a      vpc-with-a-long-id  t1      2026-01-08T00:00:00.000Z',
      'pcx-fffffffffffffffff  -          rejected            vpc-a      vpc-with-a-long-id  t1      Rejected by bob.',
      '',
    ].join('\n'),
    'a repeated --status means any of them',
  );
  t.equal((await run('peering', 'list', '--tenant', 't2', '-q')).out, 'pcx-aaaaaaaaaaaaaaaaa\n', '--tenant filters; -q prints ids');
  t.equal((await run('vpc', 'list', '--quiet')).out, 'vpc-a\nvpc-with-a-long-id\n');
  t.equal((await run('--json', 'peering', 'list', '--tenant', 't2')).out, JSON.stringify({ items: [PCX_ACTIVE] }, null, 2) + '\n', '--json is filtered alike');

  const vpc = (await run('vpc', 'get', 'vpc-a')).out;
  t.match(vpc, /^id:\s+vpc-a\ntenantId:\s+t1\nname:\s+web\nbridge:\s+br-a\ncidrs:\s+10\.0\.0\.0\/16,10\.1\.0\.0\/16\n/);
  const pcx = await run('peering', 'get', 'pcx-aaaaaaaaaaaaaaaaa');
  t.equal(pcx.code, 0);
  t.match(pcx.out, /^id:\s+pcx-aaaaaaaaaaaaaaaaa\nstatus:\s+active\n/);
  t.match(pcx.out, /dataplane\.state:\s+programmed\ndataplane\.flows:\s+6\n/);
  t.notMatch(pcx.out, /"bridge"/, 'no JSON squeezed into a line');
  t.match(
    pcx.out,
    '\nBRIDGE   PATCH PORT       PEER PATCH PORT  COOKIE              FLOWS\n' +
      'br-a     pa-0123456789ab  pb-0123456789ab  0x5ee0000000000001  3\n' +
      'br-long  pb-0123456789ab  pa-0123456789ab  0x5ee0000000000001  3\n',
  );
  t.match(
    pcx.out,
    '\nprogrammed on 2/4 hosts (not local to 1 more); hv-03: error; hv-05: not heard from for 45s (last programmed)\n' +
      'HOST   STATE                      FLOWS  REPORTED                  HEARD    ERROR\n' +
      'hv-01  programmed                 6      2026-01-01T00:00:05.000Z  0s ago   -\n' +
      'hv-02  programmed                 6      2026-01-01T00:00:04.000Z  3s ago   -\n',
    'every host\'s data plane: one line an operator reads first, then the table',
  );
  t.match(pcx.out, 'hv-05  unknown (last programmed)  6      2026-01-01T00:00:01.000Z  45s ago  -\n', 'a stale host: unknown, with its last state and how long it has been silent');
  t.equal(hostsSummary([{ nodeId: 'hv-01', state: 'programmed' }, { nodeId: 'hv-02', state: 'unknown', heardAt: null, stale: true }], undefined, NOW), 'programmed on 1/2 hosts; hv-02: never heard from');
  t.equal(hostsSummary([{ nodeId: 'hv-01', state: 'disabled' }, { nodeId: 'hv-02', state: 'disabled' }], undefined, NOW), 'no data plane on any of 2 hosts (OVS disabled: no-op mode)');
  t.equal(hostsSummary([{ nodeId: 'hv-01', state: 'not-local' }], undefined, NOW), 'not local to any of 1 host');
  t.equal(hostsSummary([{ nodeId: 'hv-01', state: 'programmed' }, { nodeId: 'hv-02', state: 'unknown' }], undefined, NOW), 'programmed on 1/2 hosts; hv-02: unknown');
  // No-op hosts are not failures, on an ended peering or a live one, next to a stale host (a trial's cluster).
  const noop = [{ nodeId: 'hv-1', state: 'disabled' }, { nodeId: 'hv-2', state: 'disabled' }, { nodeId: 'hv-3', state: 'unknown', stale: true, heardAt: '2026-01-01T01:01:30.000Z', lastState: 'disabled' }];
  t.equal(hostsSummary(noop, 'deleted', NOW), 'flows removed on 0/1 host (OVS disabled on 2 more); hv-3: not heard from for 35s (last disabled)');
  t.equal(hostsSummary(noop.slice(0, 2).concat([{ nodeId: 'hv-3', state: 'programmed' }]), 'active', NOW), 'programmed on 1/1 host (OVS disabled on 2 more)');
  t.equal(hostsSummary([{ nodeId: 'hv-1', state: 'disabled' }, { nodeId: 'hv-2', state: 'not-local' }], 'active', NOW), 'nothing to program on any of 2 hosts: not local to 1, OVS disabled on 1');
  t.equal((await run('vpc', 'delete', 'vpc-b')).out, 'vpc vpc-b deleted\n');
  t.equal(
    (await run('peering', 'flows', 'pcx-aaaaaaaaaaaaaaaaa')).out,
    'br-a: 2 flows\n' +
      '  cookie=0x5ee0000000000001, table=0, priority=100,ip,in_port=pa-0123456789ab,nw_dst=10.0.0.0/16 actions=NORMAL\n' +
      '  cookie=0x5ee0000000000001, table=0, priority=100,arp,in_port=pa-0123456789ab actions=NORMAL\n' +
      'br-long: 0 flows\n',
  );
});

t.test('reconcile: changes per bridge, exit 1 with errors, OVS disabled said plainly', async (t) => {
  const { path } = await fakeDaemon(t);
  const run = (...argv: string[]) => cli(['--socket', path, '--token', 'alice-token', ...argv]);

  const ok = await run('reconcile', '--bridge', 'br-a');
  t.same([ok.code, ok.err], [0, '']);
  t.match(ok.out, /^bridges:\s+br-a,br-b\nadded:\s+2\nremoved:\s+1\nunchanged:\s+10\nduration:\s+12 ms\nerrors:\s+0\n$/);

  const failed = await run('reconcile');
  t.equal(failed.code, 1, 'errors on a bridge exit 1');
  t.equal(failed.err, 'error: br-b: ovs-ofctl failed: no such bridge (OVS_UNAVAILABLE)\n');
  t.match(failed.out, /errors:\s+1\n$/);

  const dry = await run('reconcile', '--dry-run', '--bridge', 'br-a');
  t.equal(dry.code, 0);
  t.equal(
    dry.out.split('bridges:')[0],
    'dry run: nothing was changed\n' +
      'br-a: 2 flows to add, 1 flow to remove, 1 port to add\n' +
      '  + port pa-1 (peer=pb-1)\n' +
      '  + flow table=0,priority=100,ip,in_port=7,nw_dst=10.1.0.0/16,actions=output:8\n' +
      '  + flow table=0,priority=100,arp,in_port=7,arp_tpa=10.1.0.0/16,actions=output:8\n' +
      '  - flow table=0,priority=100,ip,in_port=9,nw_dst=10.9.0.0/16\n',
  );
  t.match((await run('reconcile', '--verbose', '--bridge', 'br-a')).out, /^br-a: 2 flows added, 1 flow removed, 1 port added\n/);

  const json = await run('--json', 'reconcile');
  t.equal(json.code, 1);
  t.match(JSON.parse(json.out), { errors: [{ bridge: 'br-b', reason: 'OVS_UNAVAILABLE' }] });

  const off = await fakeDaemon(t, { 'reconcile.run': () => ({ ovs: 'disabled', bridges: [], added: 0, removed: 0, unchanged: 0, durationMs: 0, errors: [] }) });
  const noop = await cli(['--socket', off.path, '--token', 'alice-token', 'reconcile']);
  t.same([noop.code, noop.out], [0, 'OVS is disabled on this host (no-op mode): nothing to reconcile\n']);
});

t.test('status golden: a fixed daemon state, human and --json', async (t) => {
  const { path } = await fakeDaemon(t);
  const human = await cli(['--socket', path, '--token', 'alice-token', 'status']);
  t.equal(human.code, 0, human.err);
  const json = await cli(['--socket', path, '--token', 'alice-token', '--json', 'status']);
  t.equal(json.code, 0, json.err);
  if (process.env.UPDATE_GOLDEN === '1') {
    writeFileSync(new URL('status.txt', FIXTURES), human.out);
    writeFileSync(new URL('status.json', FIXTURES), json.out);
  }
  t.equal(human.out, readFileSync(new URL('status.txt', FIXTURES), 'utf8'), 'human view (UPDATE_GOLDEN=1 rewrites it)');
  t.equal(json.out, readFileSync(new URL('status.json', FIXTURES), 'utf8'), '--json view');
  t.same(JSON.parse(json.out), STATUS, '--json is the daemon\'s reply, counters and all');

  const first = human.out.split('\n')[0];
  t.equal(first, '● degraded · OVS 3 bridges, 1 in error · 12 peerings active · store 4,210 records · gossip 1/2 peers', 'a first line like systemctl status');
  t.notMatch(human.out, /[{}"]/, 'no raw JSON in the human view');
  t.notMatch(human.out, /seq|journalBytes|syncs|Generation/, 'no internal counters in the human view');
  t.notOk(human.out.includes('\x1b['), 'no colour when stdout is not a terminal');

  const tty = await cli(['--socket', path, '--token', 'alice-token', 'status'], { tty: true });
  t.ok(tty.out.startsWith('\x1b[33m●\x1b[0m \x1b[33mdegraded\x1b[0m'), 'colour on a terminal');
  const noColour = await cli(['--socket', path, '--token', 'alice-token', 'status'], { tty: true, env: { NO_COLOR: '1' } });
  t.equal(noColour.out, human.out, 'never with NO_COLOR');

  const calm = await fakeDaemon(t, {
    status: () => ({ ...STATUS, ovs: { state: 'disabled', reason: 'ovs.enabled is false', bridges: [] }, gossip: { enabled: false, peers: [] }, counts: { vpcs: 1, peerings: { active: 1 } } }),
  });
  const plain = await cli(['--socket', calm.path, '--token', 'alice-token', 'status']);
  t.match(plain.out, /^● serving · OVS disabled \(no-op mode\) · 1 peering active · store 4,210 records · gossip off\n/);
  t.match(plain.out, /\nOVS {6}disabled \(ovs\.enabled is false\)\nGossip {3}off\n/);
});

t.test('--verbose shows the JSON-RPC exchange on stderr, token masked', async (t) => {
  const { path } = await fakeDaemon(t);
  const r = await cli(['--socket', path, '--token', 'alice-token', '--verbose', 'vpc', 'get', 'vpc-a']);
  t.equal(r.code, 0);
  const lines = r.err.trim().split('\n');
  t.equal(lines.length, 2);
  t.same(JSON.parse(lines[0]?.replace(/^--> /, '') ?? ''), { jsonrpc: '2.0', id: 1, method: 'vpc.get', params: { id: 'vpc-a', auth: '***' } });
  t.match(lines[1], /^<-- \{"jsonrpc":"2\.0","id":1,"result":\{"id":"vpc-a"/);
  t.notMatch(r.err, /alice-token/, 'the token never shows');
});

t.test('--timeout bounds a call; a slow daemon is a local problem (exit 3)', async (t) => {
  const slow = gate();
  t.teardown(slow.open);
  const { path } = await fakeDaemon(t, { status: async () => slow.wait.then(() => STATUS) });
  const started = Date.now();
  const r = await cli(['--socket', path, '--token', 'alice-token', '--timeout', '0.2', 'status']);
  t.equal(r.code, 3);
  t.match(r.err, /^error: no reply from vpc-peerd at .* within 0\.2 s\nhint: .*--timeout SECONDS waits longer\n$/);
  t.ok(Date.now() - started < 5000, 'gave up at the deadline');
});

t.test('peering wait: 0 when reached, 1 on timeout with the last state, at once when it cannot happen', async (t) => {
  let polls = 0;
  let shape: (n: number) => unknown = () => ({});
  const { path } = await fakeDaemon(t, {
    'peering.get': (p) => {
      polls += 1;
      return shape(polls) ?? (() => { throw new RpcError('PEERING_NOT_FOUND', `No peering ${String(p.id)}.`); })();
    },
  });
  const wait = (...argv: string[]) => {
    polls = 0;
    return cli(['--socket', path, '--token', 'alice-token', 'peering', 'wait', 'pcx-aaaaaaaaaaaaaaaaa', ...argv]);
  };

  shape = (n) => (n < 3 ? { ...PCX_PENDING } : { ...PCX_ACTIVE, dataplane: { ...DATAPLANE, state: 'pending' } });
  let r = await wait('--for', 'active');
  t.same([r.code, r.out, r.err], [0, 'pcx-aaaaaaaaaaaaaaaaa is active\n', '']);
  t.equal(polls, 3, 'polled until it was');

  shape = (n) => ({ ...PCX_ACTIVE, dataplane: { ...DATAPLANE, state: n < 2 ? 'pending' : 'programmed' } });
  r = await wait('--for', 'programmed');
  t.same([r.code, r.out], [0, 'pcx-aaaaaaaaaaaaaaaaa is programmed\n']);

  shape = () => ({ ...PCX_ACTIVE, dataplane: { ...DATAPLANE, state: 'pending' } });
  r = await wait('--for', 'programmed', '--timeout', '0.3');
  t.equal(r.code, 1, 'timeout exits 1');
  t.equal(r.err, 'error: timed out after 0.3 s waiting for pcx-aaaaaaaaaaaaaaaaa to be programmed; last state: status active, data plane pending\n');

  shape = () => ({ ...PCX_REJECTED });
  r = await wait('--for', 'active');
  t.equal(r.code, 1);
  t.match(r.err, /^error: pcx-aaaaaaaaaaaaaaaaa will not become active: it is rejected/);
  t.equal(polls, 1, 'no waiting for what cannot happen');

  shape = () => ({ ...PCX_ACTIVE, dataplane: { state: 'disabled', flows: 0, lastReconciledAt: null } });
  r = await wait('--for', 'programmed');
  t.match([r.code, r.err], [1, /OVS is disabled on this host \(no-op mode\)/]);

  shape = (n) => (n < 2 ? { ...PCX_ACTIVE, status: 'deleted', dataplane: { ...DATAPLANE, state: 'pending' } } : undefined);
  r = await wait('--for', 'deleted');
  t.same([r.code, r.out], [0, 'pcx-aaaaaaaaaaaaaaaaa is deleted\n'], 'not found (compacted away) counts as deleted');

  shape = () => ({ ...PCX_ACTIVE, dataplane: DATAPLANE });
  r = await wait('--for', 'programmed', '--all-hosts');
  t.match([r.code, r.err], [1, /--all-hosts needs gossip/]);
  shape = (n) => ({ ...PCX_ACTIVE, dataplane: DATAPLANE, hosts: [{ nodeId: 'hv-01', state: 'programmed' }, { nodeId: 'hv-02', state: n < 2 ? 'pending' : 'programmed' }] });
  r = await wait('--for', 'programmed', '--all-hosts');
  t.same([r.code, r.out], [0, 'pcx-aaaaaaaaaaaaaaaaa is programmed on every host\n']);
  t.equal(polls, 2);
});

t.test('status --watch redraws until interrupted', async (t) => {
  const { path } = await fakeDaemon(t);
  for (const tty of [false, true]) {
    const stop = new AbortController();
    let frames = 0;
    const r = await cli(['--socket', path, '--token', 'alice-token', 'status', '--watch', '0.1'], {
      tty,
      env: { NO_COLOR: '1' },
      signal: stop.signal,
      onOut: () => {
        frames += 1;
        if (frames === 3) stop.abort();
      },
    });
    t.equal(r.code, 0, 'an interrupted watch is a normal end');
    t.equal(frames, 3);
    if (tty) {
      t.equal(r.out.split('\x1b[H\x1b[2J').length, 4, 'each frame clears the screen first');
      t.match(r.out, /every 0\.1 s · 2026-01-01T01:02:05\.000Z · Ctrl-C to stop\n\n● degraded/);
    } else {
      t.equal(r.out.split('● degraded').length, 4, 'snapshots follow each other in a pipe');
      t.notOk(r.out.includes('\x1b'));
    }
  }
});

t.test('RPC errors exit 1 with message and reason; a rejected token says what to do', async (t) => {
  const { path, dir } = await fakeDaemon(t);
  let r = await cli(['--socket', path, '--token', 'alice-token', 'vpc', 'get', 'nope']);
  t.same([r.code, r.out, r.err], [1, '', 'error: No VPC nope. (VPC_NOT_FOUND)\n']);

  r = await cli(['--socket', path, '--token', 'alice-token', '--json', 'vpc', 'delete', 'vpc-a']);
  t.equal(r.code, 1);
  t.same(JSON.parse(r.err), { error: { code: 409, message: 'VPC vpc-a has 1 live peering.', data: { peerings: ['pcx-1'], reason: 'VPC_IN_USE' } } });

  // An operator token (its JWS header names the operator key) of an earlier start: the hint says why.
  const oldOperator = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'vpc-peerd-operator', typ: 'JWT' })).toString('base64url')}.e30.c2ln`;
  r = await cli(['--socket', path, '--token', oldOperator, 'status']);
  t.equal(r.code, 1);
  t.match(r.err, /^error: The token is not valid\. \(TOKEN_INVALID\)\nhint: the operator token changes at each start of vpc-peerd .*--token-file FILE or --config PATH/);
  // Any other token: the daemon's message is the whole story, no talk of operator tokens.
  r = await cli(['--socket', path, '--token', 'forged', 'status']);
  t.same([r.code, r.err], [1, 'error: The token is not valid. (TOKEN_INVALID)\n']);

  writeFileSync(join(dir, 'old.token'), 'stale-token\n');
  r = await cli(['--socket', path, '--token-file', join(dir, 'old.token'), 'status']);
  t.match(r.err, new RegExp(`hint: the token now in ${join(dir, 'old.token')} is refused; vpc-peerd rewrites its auth.adminTokenFile at each start`));

  r = await cli(['--socket', path, 'call', 'no.such', '--token', 'alice-token']);
  t.equal(r.code, 1);
  t.match(r.err, /\(METHOD_NOT_FOUND\)/);
});

t.test('local problems exit 3 and say what to do', async (t) => {
  const { path, dir } = await fakeDaemon(t);
  const file = join(dir, 'plain-file');
  writeFileSync(file, '');
  let r = await cli(['--socket', file, '--token', 'x', 'status']);
  t.same([r.code, r.out], [3, '']);
  t.match(r.err, `error: ${file} is not a socket (it is a regular file)\n`);

  r = await cli(['--socket', join(dir, 'none.sock'), '--token', 'x', 'status']);
  t.equal(r.code, 3);
  t.match(r.err, /^error: cannot reach vpc-peerd: no socket at .*none\.sock\nhint: is vpc-peerd running\? The socket came from --socket\n$/);

  r = await cli(['--token', 'x', 'status'], { env: { VPC_PEERCTL_SOCKET: join(dir, 'none.sock') } });
  t.match(r.err, /The socket came from \$VPC_PEERCTL_SOCKET/);

  r = await cli(['--socket', path, '--token-file', join(dir, 'missing.token'), 'status']);
  t.same([r.code, r.err], [3, `error: cannot read token file ${join(dir, 'missing.token')}: no such file\n`]);

  writeFileSync(join(dir, 'bad.json'), '{ nope');
  r = await cli(['--config', join(dir, 'bad.json'), 'status']);
  t.equal(r.code, 3);
  t.match(r.err, /^error: cannot read config .*bad\.json/);
});

t.test('the default socket missing: the hint names a daemon running from a checkout', async (t) => {
  const dir = t.testdir({
    checkout: { 'package.json': JSON.stringify({ name: 'vpc-peerd' }), dist: { src: { 'main.js': '' } } },
    other: { 'package.json': JSON.stringify({ name: 'something-else' }), dist: { src: { 'main.js': '' } } },
    proc: { '4242': { cmdline: ['node', 'dist/src/main.js', '--config', 'config.example.json'].join('\0') + '\0' }, '77': { cmdline: 'node\0dist/src/main.js\0' }, self: {} },
  });
  symlinkSync(join(dir, 'checkout'), join(dir, 'proc/4242/cwd'));
  symlinkSync(join(dir, 'other'), join(dir, 'proc/77/cwd'));
  t.same(await findRunningDaemons(join(dir, 'proc')), [{ pid: 4242, config: join(dir, 'checkout/config.example.json') }], 'only vpc-peerd, with its config made absolute');

  const settings = { socketPath: '/run/vpc-peerd/vpc-peerd.sock', socketSource: 'default', token: undefined, tokenFile: undefined, tokenNote: undefined, tokenSource: undefined } as const;
  const lines = await transportProblem(new RpcTransportError('unreachable', 'x', 'ENOENT'), settings, 1000, join(dir, 'proc'));
  t.same(lines, [
    'error: cannot reach vpc-peerd: no socket at /run/vpc-peerd/vpc-peerd.sock',
    `hint: vpc-peerd runs as pid 4242 with --config ${join(dir, 'checkout/config.example.json')}: add --config ${join(dir, 'checkout/config.example.json')}`,
    'hint: or pass --socket PATH, or set $VPC_PEERCTL_SOCKET',
  ]);
  const none = await transportProblem(new RpcTransportError('unreachable', 'x', 'ENOENT'), settings, 1000, join(dir, 'no-proc'));
  t.match(none[1], /A daemon started from a checkout listens on its config's socket\.path: pass --config PATH or --socket PATH, or set \$VPC_PEERCTL_SOCKET/);
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

  r = await cli(['--token', 'alice-token', 'vpc', 'list'], { env: { VPC_PEERCTL_SOCKET: path } });
  t.equal(r.code, 0, 'the environment names the socket');

  // A config the daemon refused on SIGHUP (it runs on the old one): the operator can still look.
  writeFileSync(join(conf, 'refused.json'), JSON.stringify({ socket: { path: '../d.sock' }, auth: { adminTokenFile: '../admin.token' }, log: { level: 'loud' }, gossip: { peers: ['nope'] } }));
  r = await cli(['--config', join(conf, 'refused.json'), 'vpc', 'get', 'vpc-a']);
  t.equal(r.code, 0, `only socket.path and auth.adminTokenFile are read (stderr: ${r.err})`);
  writeFileSync(join(conf, 'bad-path.json'), JSON.stringify({ socket: { path: 7 } }));
  r = await cli(['--config', join(conf, 'bad-path.json'), 'status']);
  t.same([r.code, r.err], [3, `error: cannot read config ${join(conf, 'bad-path.json')}: socket.path must be a path\n`]);

  // The implicit token file unreadable: README's "the token file cannot be read", a local problem.
  writeFileSync(join(conf, 'no-token.json'), JSON.stringify({ socket: { path: '../d.sock' }, auth: { adminTokenFile: './none' } }));
  r = await cli(['--config', join(conf, 'no-token.json'), 'status']);
  t.equal(r.code, 3);
  t.match(r.err, /\(UNAUTHENTICATED\)\nhint: cannot read token file .*none: no such file; pass --token, --token-file or --config\n/);
});

function sh(cmd: string, args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, MANWIDTH: '80' } }, (err, out, errOut) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out, err: errOut });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

t.test('shell completion from the command definitions', async (t) => {
  const bash = await cli(['completion', 'bash']);
  t.equal(bash.code, 0);
  const parsed = await sh('bash', ['-n'], bash.out);
  t.same([parsed.code, parsed.err], [0, ''], 'bash -n accepts it');

  // It completes: subcommands after a group, options of a leaf, choices of an option.
  const complete = async (...words: string[]) => {
    const script = `${bash.out}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _vpc_peerctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await sh('bash', ['-c', script]);
    return r.out.trim().split('\n');
  };
  const afterVpc = await complete('vpc-peerctl', 'vpc', '');
  t.same(afterVpc.filter((w) => !w.startsWith('-')), ['create', 'update', 'get', 'list', 'delete', 'help'], 'the subcommands of a group');
  t.notOk(afterVpc.includes('status'));
  t.same(await complete('vpc-peerctl', 'peering', 'w'), ['wait']);
  t.same(await complete('vpc-peerctl', 'peering', 'create', '--acc'), ['--accepter']);
  t.same(await complete('vpc-peerctl', 'peering', 'list', '--status', 'p'), ['pending-acceptance']);
  t.same(await complete('vpc-peerctl', '--json', 'peering', 'wait', 'pcx-1', '--for', ''), ['active', 'programmed', 'deleted']);
  t.ok((await complete('vpc-peerctl', 'status', '--')).includes('--watch'));

  const zsh = await cli(['completion', 'zsh']);
  t.match(zsh.out, /^#compdef vpc-peerctl\n/);
  const zshParsed = await sh('zsh', ['-n'], zsh.out);
  if (zshParsed.code === -1) t.fail('zsh is not installed: apt-get install zsh (npm test installs it as root)');
  else t.same([zshParsed.code, zshParsed.err], [0, ''], 'zsh -n accepts it');
});

t.test('the man page renders with man -l without warnings', async (t) => {
  const page = await cli(['man']);
  t.equal(page.code, 0);
  t.match(page.out, /^\.TH VPC-PEERCTL 1 "" "vpc-peerd /);
  const file = join(t.testdir(), 'vpc-peerctl.1');
  writeFileSync(file, page.out);
  const r = await sh('man', ['--warnings', '-l', file]);
  if (r.code === -1) t.fail('man is not installed: apt-get install man-db (npm test installs it as root)');
  t.equal(r.code, 0);
  t.equal(r.err, '', 'no warnings');
  for (const section of ['NAME', 'SYNOPSIS', 'OPTIONS', 'COMMANDS', 'EXIT STATUS', 'ENVIRONMENT', 'FILES']) t.match(r.out, new RegExp(`^${section}$`, 'm'));
  t.match(r.out, /peering wait <id>/);
  t.match(r.out, /--for <state>/);
  t.match(r.out, /\$ vpc-peerctl peering wait pcx-0123456789abcdef0 --for programmed --timeout 60/);
  t.notMatch((await cli(['--help'])).out, /\bman\b/, 'the man command is not in the help');
});
