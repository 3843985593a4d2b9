// scripts/install.sh and scripts/uninstall.sh into a temporary root (--root): twice gives the same
// tree and keeps an edited config; the installed package runs (native module included) and its
// unit passes systemd-analyze verify against the installed program; uninstall keeps the config
// and the state unless --purge.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { listenNotify } from '../helpers/notify-socket.js';
import { verifyUnit } from '../helpers/systemd-analyze.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));

function run(script: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile('bash', [join(repo, 'scripts', script), ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, output: stdout + stderr });
    });
  });
}

/** Every entry under `dir`: path, type, mode, and content hash or link target. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const what = st.isSymbolicLink()
        ? `-> ${readlinkSync(p)}`
        : st.isDirectory()
          ? 'dir'
          : createHash('sha256').update(readFileSync(p)).digest('hex');
      out.push(`${relative(dir, p)} ${(st.mode & 0o7777).toString(8)} ${what}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

t.test('install twice, run, verify, uninstall', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vpc-peerd-root-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));

  const first = await run('install.sh', ['--root', root]);
  t.equal(first.code, 0, first.output);
  t.match(first.output, /systemctl not called/);
  const once = tree(root);
  for (const path of ['usr/bin/vpc-peerd', 'usr/bin/vpc-peerctl', 'etc/vpc-peerd/config.json', 'etc/systemd/system/vpc-peerd.service', 'usr/lib/vpc-peerd/dist/src/main.js', 'usr/lib/vpc-peerd/node_modules/unix-dgram/build/Release/unix_dgram.node', 'usr/share/bash-completion/completions/vpc-peerctl', 'usr/share/zsh/vendor-completions/_vpc-peerctl', 'usr/share/man/man1/vpc-peerctl.1.gz']) {
    t.ok(once.some((line) => line.startsWith(`${path} `)), path);
  }
  t.notOk(once.some((line) => /node_modules\/(tap|typescript|eslint)\b/.test(line)), 'no dev dependencies');
  t.notOk(once.some((line) => line.startsWith('usr/lib/vpc-peerd/dist/test')), 'no tests');
  t.match(readFileSync(join(root, 'usr/bin/vpc-peerd'), 'utf8'), /^#!\/bin\/sh\nexec '.+' '\/usr\/lib\/vpc-peerd\/dist\/src\/main\.js' "\$@"\n$/);

  const second = await run('install.sh', ['--root', root]);
  t.equal(second.code, 0, second.output);
  t.same(tree(root), once, 'a second run gives the same tree');

  const config = join(root, 'etc/vpc-peerd/config.json');
  writeFileSync(config, readFileSync(config, 'utf8').replace('"level": "info"', '"level": "debug"'));
  const third = await run('install.sh', ['--root', root]);
  t.match(third.output, /kept the existing/);
  t.match(readFileSync(config, 'utf8'), /"level": "debug"/, 'an edited config is kept');

  t.test('the unit verifies against the installed program', async (t) => {
    const unit = readFileSync(join(root, 'etc/systemd/system/vpc-peerd.service'), 'utf8');
    const { output } = await verifyUnit(unit.replace(/^ExecStart=\/usr\/bin\/vpc-peerd /m, `ExecStart=${root}/usr/bin/vpc-peerd `));
    t.equal(output, '');
  });

  t.test('the installed package runs, sd_notify included', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-installed-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ socket: { path: './s.sock' }, store: { path: './state.json' }, ovs: { enabled: false }, auth: { adminTokenFile: './admin.token' } }));
    const notify = await listenNotify(t, dir);
    const child = spawn(process.execPath, [join(root, 'usr/lib/vpc-peerd/dist/src/main.js'), '--config', join(dir, 'config.json')], {
      stdio: 'ignore',
      env: { ...process.env, NOTIFY_SOCKET: notify.path },
    });
    t.teardown(() => child.kill('SIGKILL'));
    await notify.waitFor('READY');
    const code = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    t.equal(await code, 0);
  });

  t.test('the installed vpc-peerctl runs; its man page and completion work', async (t) => {
    const ctl = join(root, 'usr/lib/vpc-peerd/dist/src/cli/main.js');
    const version = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(process.execPath, [ctl, '--version'], (err, out) => resolve({ code: err ? -1 : 0, out }));
    });
    t.same(version, { code: 0, out: `${JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version as string}\n` });
    const man = await new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile('man', ['--warnings', '-l', join(root, 'usr/share/man/man1/vpc-peerctl.1.gz')], { env: { ...process.env, MANWIDTH: '80' } }, (err, out, errOut) =>
        resolve({ code: err ? -1 : 0, out, err: errOut }),
      );
    });
    t.same([man.code, man.err], [0, ''], 'man -l renders it without warnings');
    t.match(man.out, /^VPC-PEERCTL\(1\)/);
    const bash = await new Promise<number>((resolve) => {
      execFile('bash', ['-n', join(root, 'usr/share/bash-completion/completions/vpc-peerctl')], (err) => resolve(err ? -1 : 0));
    });
    t.equal(bash, 0, 'the bash completion parses');
  });

  t.test('uninstall keeps the config and the state; --purge removes them', async (t) => {
    mkdirSync(join(root, 'var/lib/vpc-peerd'), { recursive: true });
    writeFileSync(join(root, 'var/lib/vpc-peerd/state.json'), '{}');
    const removed = await run('uninstall.sh', ['--root', root]);
    t.equal(removed.code, 0, removed.output);
    for (const gone of ['usr/lib/vpc-peerd', 'usr/bin/vpc-peerd', 'usr/bin/vpc-peerctl', 'etc/systemd/system/vpc-peerd.service', 'usr/share/man/man1/vpc-peerctl.1.gz', 'usr/share/bash-completion/completions/vpc-peerctl']) {
      t.notOk(existsSync(join(root, gone)), `${gone} removed`);
    }
    t.ok(existsSync(config), 'config kept');
    t.ok(existsSync(join(root, 'var/lib/vpc-peerd/state.json')), 'state kept');
    t.equal((await run('uninstall.sh', ['--root', root])).code, 0, 'uninstall twice is fine');
    const purged = await run('uninstall.sh', ['--root', root, '--purge']);
    t.equal(purged.code, 0, purged.output);
    t.notOk(existsSync(join(root, 'etc/vpc-peerd')), 'config purged');
    t.notOk(existsSync(join(root, 'var/lib/vpc-peerd')), 'state purged');
  });
});
