// `peering wait` across a daemon restart (trial finding 2): the connection closes, nothing
// listens for a while, then a new daemon answers that accepts only the token it has just written
// to its token file. The wait rides through all of it until the peering is active, as `aws ec2
// wait` does; the same wait against a socket nothing ever answered on stays a local problem (3).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli, type CliIo } from '../../../src/cli/run.js';
import { RpcError } from '../../../src/errors.js';
import type { RpcServer } from '../../../src/rpc/server.js';
import { fakeDaemonServer } from '../../helpers/rpc-fakes.js';

const PEERING = { id: 'pcx-0123456789abcdef0', tenantId: 't1', requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-b', dataplane: { state: 'programmed' } };

/** A daemon whose peering.get accepts only the principal `sub` and answers with `status`. */
function daemon(path: string, sub: string, status: string, onCall: () => void): RpcServer {
  return fakeDaemonServer(path, {
    'peering.get': (_params, principal) => {
      if (principal.sub !== sub) throw new RpcError('TOKEN_INVALID', 'The token is not valid: its signature does not verify.');
      onCall();
      return { ...PEERING, status };
    },
  });
}

function io(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s), isTTY: false },
    stderr: { write: (s: string) => (err += s) },
    env: {},
    out: () => out,
    err: () => err,
  };
}

t.test('peering wait --for active rides through a restart with a new token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'peerctl-wait-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'd.sock');
  const tokenFile = join(dir, 'admin.token');
  writeFileSync(tokenFile, 'alice-token\n');
  let second: RpcServer | undefined;
  t.teardown(() => second?.close());
  let restarted: Promise<void> | undefined;
  const first = daemon(path, 'alice', 'pending-acceptance', () => {
    // After the first answer the daemon stops; its successor writes a new token, then listens.
    restarted ??= (async () => {
      await new Promise((resolve) => setImmediate(resolve));
      await first.close();
      // A gap in which nothing listens: the wait sees the socket gone.
      await new Promise((resolve) => setTimeout(resolve, 300));
      writeFileSync(tokenFile, 'bob-token\n');
      second = daemon(path, 'bob', 'active', () => undefined);
      await second.listen();
    })();
  });
  await first.listen();
  t.teardown(() => first.close());

  const streams = io();
  const code = await runCli(['--socket', path, '--token-file', tokenFile, '--timeout', '20', 'peering', 'wait', PEERING.id, '--for', 'active'], streams);
  await restarted;
  t.equal(code, 0, `stderr: ${streams.err()}`);
  t.equal(streams.out(), `${PEERING.id} is active\n`);
  t.equal(streams.err(), '');
});

t.test('peering wait times out (1) while the daemon stays away after answering once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'peerctl-wait-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'd.sock');
  let closed: Promise<void> | undefined;
  const server = daemon(path, 'alice', 'pending-acceptance', () => {
    closed ??= new Promise((resolve) => setImmediate(resolve)).then(() => server.close());
  });
  await server.listen();
  t.teardown(() => server.close());
  const streams = io();
  const code = await runCli(['--socket', path, '--token', 'alice-token', '--timeout', '1', 'peering', 'wait', PEERING.id, '--for', 'active'], streams);
  t.equal(code, 1, streams.err());
  t.match(streams.err(), /^error: timed out after 1 s waiting for pcx-0123456789abcdef0 to be active; last state: vpc-peerd not answering/);
});

t.test('peering wait on a socket that never answered is a local problem (3)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'peerctl-wait-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const streams = io();
  const code = await runCli(['--socket', join(dir, 'none.sock'), '--token', 'alice-token', '--timeout', '5', 'peering', 'wait', PEERING.id, '--for', 'active'], streams);
  t.equal(code, 3);
  t.match(streams.err(), /cannot reach vpc-peerd: no socket at/);
});

t.test('a token still refused after reading its file again ends the wait with the hint (1)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'peerctl-wait-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'd.sock');
  const tokenFile = join(dir, 'admin.token');
  writeFileSync(tokenFile, 'bob-token\n');
  const server = daemon(path, 'alice', 'active', () => undefined);
  await server.listen();
  t.teardown(() => server.close());
  const streams = io();
  const code = await runCli(['--socket', path, '--token-file', tokenFile, 'peering', 'wait', PEERING.id, '--for', 'active'], streams);
  t.equal(code, 1);
  t.match(streams.err(), `hint: the token now in ${tokenFile} is refused`);
});
