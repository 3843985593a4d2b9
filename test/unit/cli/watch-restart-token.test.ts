// Finding of helper T (trial): `status --watch` means to survive a daemon restart ("the daemon
// restarting is what one watches for", run.ts), but the token is read once, at the start of the
// watch, while vpc-peerd rewrites auth.adminTokenFile at each start. Seen for real: the watch shows
// "not answering" while the daemon is down, then exits 1 with TOKEN_INVALID once it is back (and
// the hint says the file "was read just now"). `peering wait` exits 3 on the same restart.
// Here a fake daemon stands in for the restarted one: it accepts only the token now in the file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runCli, type CliIo } from '../../../src/cli/run.js';
import { RpcError } from '../../../src/errors.js';
import { fakeDaemonServer } from '../../helpers/rpc-fakes.js';

const STATUS = {
  version: '0.1.0', nodeId: 'hv-01', startedAt: '2026-01-01T00:00:00.000Z', uptimeSeconds: 5,
  store: { path: '/var/lib/vpc-peerd/state.json', state: 'ok', records: 1 },
  ovs: { state: 'disabled', reason: 'ovs.enabled is false', bridges: [] },
  gossip: { enabled: false, peers: [] },
  counts: { vpcs: 1, peerings: {} },
};

/**
 * A daemon whose status accepts only the principal `accepts()` names, in a temp folder beside
 * its token file (alice's token at first): its socket path and the token file.
 */
async function daemon(t: Test, accepts: () => string): Promise<{ path: string; tokenFile: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'peerctl-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'admin.token');
  writeFileSync(tokenFile, 'alice-token\n');
  const path = join(dir, 'd.sock');
  const server = fakeDaemonServer(path, {
    status: (_params, principal) => {
      if (principal.sub !== accepts()) throw new RpcError('TOKEN_INVALID', 'The token is not valid: its signature does not verify.');
      return STATUS;
    },
  });
  await server.listen();
  t.teardown(() => server.close());
  return { path, tokenFile };
}

t.test('status --watch keeps working after the daemon restarts with a new operator token', async (t) => {
  // The token the "running daemon" accepts; a restart changes it and rewrites the file.
  let current = 'alice';
  const { path, tokenFile } = await daemon(t, () => current);

  const stop = new AbortController();
  let frames = 0;
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: {
      write: (s: string) => {
        out += s;
        frames += 1;
        if (frames === 1) {
          // The daemon restarts: a new operator token, written to its token file.
          current = 'bob';
          writeFileSync(tokenFile, 'bob-token\n');
        }
        if (frames === 3) stop.abort();
      },
      isTTY: false,
    },
    stderr: { write: (s: string) => (err += s) },
    env: { NO_COLOR: '1' },
    signal: stop.signal,
    now: () => new Date('2026-01-01T00:00:05.000Z'),
  };
  const code = await runCli(['--socket', path, '--token-file', tokenFile, 'status', '--watch', '0.1'], io);
  t.equal(code, 0, `the watch goes on (stderr: ${err})`);
  t.notMatch(err, /TOKEN_INVALID/, 'the token file is read again, not kept from the start of the watch');
  t.equal(frames, 3);
  t.match(out, /serving/);
});

t.test('status --watch: a token refused after an answer is shown on the screen; refused from the start, exit 1', async (t) => {
  let current = 'alice';
  const { path, tokenFile } = await daemon(t, () => current);
  const stop = new AbortController();
  const frames: string[] = [];
  const io: CliIo = {
    stdout: {
      write: (s: string) => {
        frames.push(s);
        // The daemon now wants another token, and the file does not hold it.
        current = 'bob';
        if (frames.length === 2) stop.abort();
      },
      isTTY: false,
    },
    stderr: { write: () => undefined },
    env: {},
    signal: stop.signal,
  };
  t.equal(await runCli(['--socket', path, '--token-file', tokenFile, 'status', '--watch', '0.1'], io), 0);
  t.match(frames[1], /^● token refused: The token is not valid[^\n]*\(TOKEN_INVALID\); the token file is read again at the next refresh\n/);

  let err = '';
  const once: CliIo = { stdout: { write: () => undefined }, stderr: { write: (s: string) => (err += s) }, env: {} };
  t.equal(await runCli(['--socket', path, '--token-file', tokenFile, 'status', '--watch', '0.1'], once), 1);
  t.match(err, `hint: the token now in ${tokenFile} is refused`);
});
