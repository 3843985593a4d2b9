// vpc-peerctl as an operator runs it: a separate process, against the real daemon, finding the
// socket and the operator token through --config. Also: the daemon's log never holds a secret.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { findRunningDaemons } from '../../src/cli/hints.js';
import { runCtl, startDaemon } from '../helpers/daemon.js';

t.test('the README tour through vpc-peerctl', async (t) => {
  const d = await startDaemon(t);
  const ctl = (...args: string[]) => runCtl(['--config', d.configPath, ...args]);

  const a = await ctl('vpc', 'create', '--id', 'vpc-a', '--tenant', 'acme', '--cidr', '10.0.0.0/16', '--cidr', 'fd00:a::/64', '--bridge', 'br-a');
  t.equal(a.code, 0, a.stderr);
  t.match(a.stdout, /vpc-a/);
  t.equal((await ctl('vpc', 'create', '--id', 'vpc-b', '--tenant', 'acme', '--cidr', '10.1.0.0/16', '--bridge', 'br-b')).code, 0);

  const table = await ctl('vpc', 'list');
  t.equal(table.code, 0);
  t.match(table.stdout, /^ID\s+TENANT\s+BRIDGE\s+CIDRS/m, 'a human table with a header');
  t.match(table.stdout, /^vpc-b\s+acme\s+br-b\s+10\.1\.0\.0\/16/m);

  const created = await ctl('--json', 'peering', 'create', '--requester', 'vpc-a', '--accepter', 'vpc-b');
  t.equal(created.code, 0, created.stderr);
  const peering = JSON.parse(created.stdout) as { id: string; status: string };
  t.equal(peering.status, 'pending-acceptance', '--json prints the raw result');

  const waiting = await ctl('peering', 'wait', peering.id, '--for', 'active', '--timeout', '0.5');
  t.equal(waiting.code, 1, 'a wait that times out exits 1');
  t.match(waiting.stderr, /last state: status pending-acceptance/);
  t.equal((await ctl('peering', 'accept', peering.id)).code, 0);
  const active = await ctl('peering', 'wait', peering.id, '--for', 'active');
  t.same([active.code, active.stdout], [0, `${peering.id} is active\n`]);
  const programmed = await ctl('peering', 'wait', peering.id, '--for', 'programmed');
  t.equal(programmed.code, 1, 'no-op mode never programs');
  t.match(programmed.stderr, /OVS is disabled on this host/);
  const got = JSON.parse((await ctl('--json', 'peering', 'get', peering.id)).stdout) as { status: string; dataplane: { state: string } };
  t.match(got, { status: 'active', dataplane: { state: 'disabled' } });
  const dry = await ctl('--json', 'reconcile', '--dry-run');
  t.equal(dry.code, 0, dry.stderr);
  t.match(JSON.parse(dry.stdout), { added: 0, removed: 0, errors: [] });
  const status = await ctl('status');
  t.match(status.stdout, /^● serving · OVS disabled \(no-op mode\) · 1 peering active · store \d+ records · gossip off\n/, 'a first line like systemctl');
  t.notOk(status.stdout.includes('\x1b['), 'no colour into a pipe');
  t.equal((await ctl('vpc', 'list', '-q')).stdout, 'vpc-a\nvpc-b\n');
  const invalid = await ctl('vpc', 'create', '--id', 'Bad_Id', '--tenant', 'acme', '--cidr', '10.9.0.0/16', '--bridge', 'br-x');
  t.equal(invalid.code, 1);
  t.match(invalid.stderr, /lowercase letters, digits and '-', starting with a letter or digit/, 'a validation error is a sentence');
  t.notMatch(invalid.stderr, /\^\[|\{0,62\}/, 'not a regular expression');

  const inUse = await ctl('vpc', 'delete', 'vpc-a');
  t.equal(inUse.code, 1, 'an RPC error exits 1');
  t.match(inUse.stderr, /VPC_IN_USE/, 'with the reason on stderr');

  const discover = await ctl('--json', 'call', 'rpc.discover');
  t.equal(discover.code, 0);
  t.match(JSON.parse(discover.stdout), { openrpc: /^1\./ });

  const usage = await ctl('peering', 'create', '--requester', 'vpc-a', '--acceptor', 'vpc-b');
  t.equal(usage.code, 2, 'a usage error exits 2');
  t.match(usage.stderr, /unknown option '--acceptor'\n\(Did you mean --accepter\?\)/);
  t.equal((await ctl('--version')).code, 0);
  t.equal((await ctl('frobnicate')).code, 2);

  const deleted = await ctl('peering', 'delete', peering.id);
  t.equal(deleted.code, 0);
  t.equal((await ctl('vpc', 'delete', 'vpc-a')).code, 0);

  // Secrets: neither the operator token, a platform token nor the HS256 secret reach the log.
  const platform = await d.token({ tenant: 'acme', perms: ['*'] });
  const c = await d.client();
  await c.call('vpc.list', { auth: platform });
  await c.call('vpc.list', { auth: 'forged.token.value' }).catch(() => undefined);
  const logs = d.logs();
  t.notOk(logs.includes(d.adminToken()), 'no operator token in the log');
  t.notOk(logs.includes(platform), 'no platform token in the log');
  t.notOk(logs.includes(Buffer.from(d.secret).toString('hex')), 'no secret in the log');
  t.notOk(logs.includes('forged.token.value'), 'not even a bad token');
  for (const line of logs.trim().split('\n')) {
    t.doesNotThrow(() => void JSON.parse(line), 'every log line is one JSON object');
  }
});

t.test('an unreachable daemon is a local problem: exit 3 with a clear message', async (t) => {
  const r = await runCtl(['--socket', join(t.testdir(), 'nobody.sock'), '--token', 'x', 'status']);
  t.equal(r.code, 3);
  t.match(r.stderr, /^error: cannot reach vpc-peerd: no socket at .*nobody\.sock\n/);
});

t.test('no daemon at the default socket while one runs from a checkout: the hint names its --config', async (t) => {
  if (existsSync('/run/vpc-peerd/vpc-peerd.sock')) {
    t.comment('skipped: a production daemon runs here');
    return;
  }
  const d = await startDaemon(t);
  const r = await runCtl(['--token', 'x', 'status']);
  t.equal(r.code, 3);
  // Other tests' daemons may run too (the hint names at most three, newest first): ours is found.
  t.match(r.stderr, /\nhint: vpc-peerd runs as pid \d+ with --config \S+: add --config \S+\n/);
  t.ok((await findRunningDaemons()).some((found) => found.pid === d.child.pid && found.config === d.configPath), 'this daemon and its config are found');
});
