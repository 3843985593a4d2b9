// A private Open vSwitch for one test: its own ovsdb-server and ovs-vswitchd in a temporary
// folder (OVS_RUNDIR=OVS_LOGDIR=OVS_DBDIR=that folder), vswitchd in a network namespace of its
// own (two userspace-datapath instances cannot share one), and helpers to build VPC-like
// bridges with instances (a namespace + a veth) and to ping between them.
//
// Cleanup is registered with t.teardown before anything is created and runs pass or fail: the
// daemons are killed by the pids in their pidfiles (only if that process really is ours: its
// environment names our folder), then every namespace created is deleted (which also removes
// the veths and the taps vswitchd leaves), then the folder. The folder lists its namespaces in
// `namespaces` (vswitchd's first), so `scripts/ovs-sandbox.sh stop DIR` can clean up a sandbox
// whose test process was killed before its teardown ran. Needs root.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, appendFileSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { BRIDGE_PATTERN } from '../../src/domain/types.js';
import { createRunner, type Runner } from '../../src/ovs/runner.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface Instance {
  /** The instance's network namespace. */
  readonly netns: string;
  readonly bridge: string;
  /** The OVS port (the veth end in vswitchd's namespace). */
  readonly port: string;
  readonly ofport: number;
  /** Addresses without prefix, as given. */
  readonly v4: string | null;
  readonly v6: string | null;
}

export interface InstanceOptions {
  /** `ip/prefix` on eth0. */
  readonly v4?: string;
  readonly v6?: string;
  /** CIDRs reached on-link through eth0 (peered VPCs: v1 steers at L2, no router). */
  readonly routes?: readonly string[];
}

export interface OvsSandbox {
  readonly rundir: string;
  /** The namespace ovs-vswitchd runs in. */
  readonly netns: string;
  /** Runs ovs-vsctl/ovs-ofctl against this sandbox (the daemon's own runner). */
  readonly runner: Runner;
  /** A name unique to this sandbox: `base-xxxxx` (base: 1–8 lowercase letters/digits; with the `v` of a port name it stays ≤ 15). */
  name(base: string): string;
  vsctl(...args: string[]): Promise<string>;
  ofctl(...args: string[]): Promise<string>;
  /**
   * A VPC-like bridge (netdev, fail_mode=secure, foreign NORMAL flow); returns its name: unique
   * (`name(base)`), or with `exact` `base` itself (a VPC bridge name of SPEC §2), for a VPC that
   * carries one bridge name on every host of a cluster: each sandbox is its own ovsdb and
   * vswitchd namespace, so the same name in several sandboxes does not clash.
   */
  addBridge(base: string, opts?: { exact?: boolean }): Promise<string>;
  addInstance(bridge: string, base: string, opts?: InstanceOptions): Promise<Instance>;
  /**
   * One ping (or `count`) from the instance; true when a reply came back. After a ping that
   * failed, the kernel's neighbour entry is FAILED and the next resolution takes about a second:
   * give a ping expected to pass `deadlineS` (the instance's neighbour entries are flushed, then
   * it probes once a second until the first reply).
   */
  ping(from: Instance, to: string, opts?: { count?: number; timeoutS?: number; deadlineS?: number }): Promise<boolean>;
  /** The pids of the sandbox's running daemons. */
  pids(): { ovsdb: number | null; vswitchd: number | null };
  /** Every namespace this sandbox created (for leak checks). */
  namespaces(): readonly string[];
  /** SIGKILL, like a crash: the pidfile and the mgmt sockets stay behind. */
  killVswitchd(): Promise<void>;
  startVswitchd(): Promise<void>;
  /** Stops both daemons (SIGTERM), for "OVS stopped for a while". */
  stopAll(): Promise<void>;
  startAll(): Promise<void>;
}

/** A foreign flow that makes a bridge a working L2 switch, as the platform sets VPC bridges up. */
export const PLATFORM_FLOW = 'cookie=0x1234,priority=0,actions=NORMAL';

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
const BINARIES = ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ip', 'ping'];
const INSTALL_HINT = 'install openvswitch-switch iproute2 iputils-ping (and run as root)';
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const BASE = /^[a-z][a-z0-9]{0,7}$/;
const PATH = [process.env.PATH ?? '', '/usr/sbin', '/sbin'].join(delimiter);

export async function startOvs(t: Teardown, opts: { name?: string } = {}): Promise<OvsSandbox> {
  preflight();
  const label = opts.name ?? 'ovs';
  if (!BASE.test(label)) throw new Error(`sandbox name ${JSON.stringify(label)} must match ${BASE.source}`);
  const suffix = randomBytes(3).toString('hex').slice(0, 5);
  const dir = mkdtempSync(join(tmpdir(), `vpc-peerd-ovs-${label}-`));
  const env = { PATH, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir };
  const nsFile = join(dir, 'namespaces');
  const created: string[] = [];
  const name = (base: string): string => {
    if (!BASE.test(base)) throw new Error(`name ${JSON.stringify(base)} must match ${BASE.source}`);
    return `${base}-${suffix}`;
  };
  const netns = name(label);
  const addNamespace = async (ns: string): Promise<void> => {
    // Recorded before it exists, so that a failure half-way still gets it deleted.
    created.push(ns);
    appendFileSync(nsFile, `${ns}\n`);
    await exec('ip', ['netns', 'add', ns]);
  };

  const pidfile = (daemon: 'ovsdb-server' | 'ovs-vswitchd'): string => join(dir, `${daemon}.pid`);
  /** The daemon's pid if it runs and is ours (its environment names our folder). */
  const ourPid = (daemon: 'ovsdb-server' | 'ovs-vswitchd'): number | null => {
    let pid: number;
    try {
      pid = Number(readFileSync(pidfile(daemon), 'utf8').trim());
    } catch {
      return null;
    }
    if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return null;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      return environ.includes(`OVS_RUNDIR=${dir}`) ? pid : null;
    } catch {
      return null;
    }
  };
  const stopDaemon = async (daemon: 'ovsdb-server' | 'ovs-vswitchd', signal: NodeJS.Signals): Promise<void> => {
    const pid = ourPid(daemon);
    if (pid === null) return;
    process.kill(pid, signal);
    if (await waitFor(() => !isAlive(pid), STOP_TIMEOUT_MS)) return;
    process.kill(pid, 'SIGKILL');
    if (!(await waitFor(() => !isAlive(pid), STOP_TIMEOUT_MS))) throw new Error(`${daemon} (pid ${pid}) survived SIGKILL`);
  };

  const runner = createRunner({ rundir: dir, timeoutMs: 10_000 });
  const vsctl = async (...args: string[]): Promise<string> => (await runner.run('ovs-vsctl', args)).stdout;
  const ofctl = async (...args: string[]): Promise<string> => (await runner.run('ovs-ofctl', args)).stdout;
  const daemonFlags = ['--pidfile', '--detach', '--log-file', '-vconsole:off'];

  const startDb = async (): Promise<void> => {
    await exec('ovsdb-server', [join(dir, 'conf.db'), `--remote=punix:${join(dir, 'db.sock')}`, ...daemonFlags], env);
    await until('ovsdb-server answers', () => runner.run('ovs-vsctl', ['--no-wait', 'init']));
  };
  const startVswitchd = async (): Promise<void> => {
    await exec('ip', ['netns', 'exec', netns, 'ovs-vswitchd', ...daemonFlags], env);
    await until('ovs-vswitchd answers', () => runner.run('ovs-appctl', ['-t', 'ovs-vswitchd', 'version']));
  };

  let closed = false;
  t.teardown(async () => {
    if (closed) return;
    closed = true;
    const errors: unknown[] = [];
    for (const daemon of ['ovs-vswitchd', 'ovsdb-server'] as const) {
      await stopDaemon(daemon, 'SIGTERM').catch((e: unknown) => errors.push(e));
    }
    for (const ns of created) {
      await exec('ip', ['netns', 'del', ns]).catch((e: unknown) => {
        if (!String(e).includes('No such file')) errors.push(e);
      });
    }
    rmSync(dir, { recursive: true, force: true });
    if (errors.length > 0) throw new Error(`OVS sandbox cleanup: ${errors.map(String).join('; ')}`);
  });

  await exec('ovsdb-tool', ['create', join(dir, 'conf.db'), SCHEMA], env);
  await startDb();
  await addNamespace(netns);
  await startVswitchd();

  const sandbox: OvsSandbox = {
    rundir: dir,
    netns,
    runner,
    name,
    vsctl,
    ofctl,

    async addBridge(base, o = {}) {
      if (o.exact === true && !BRIDGE_PATTERN.test(base)) throw new Error(`bridge name ${JSON.stringify(base)} must match ${BRIDGE_PATTERN.source}`);
      const br = o.exact === true ? base : name(base);
      await vsctl('add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev', 'fail_mode=secure');
      // A bridge that is "created" but has no datapath shows an error on its internal interface.
      const error = (await vsctl('get', 'interface', br, 'error')).trim();
      if (error !== '[]') throw new Error(`bridge ${br} did not come up: ${error}`);
      await ofctl('add-flow', br, PLATFORM_FLOW);
      return br;
    },

    async addInstance(bridge, base, o = {}) {
      const ns = name(base);
      const port = `v${ns}`;
      await addNamespace(ns);
      // Both ends are created where they live: eth0 in the instance, the port in vswitchd's namespace.
      await exec('ip', ['link', 'add', port, 'netns', netns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await exec('ip', ['-n', netns, 'link', 'set', port, 'up']);
      await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await exec('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      if (o.v4 !== undefined) await exec('ip', ['-n', ns, 'addr', 'add', o.v4, 'dev', 'eth0']);
      // nodad: the address is usable at once instead of after duplicate address detection.
      if (o.v6 !== undefined) await exec('ip', ['-n', ns, '-6', 'addr', 'add', o.v6, 'dev', 'eth0', 'nodad']);
      for (const cidr of o.routes ?? []) await exec('ip', ['-n', ns, 'route', 'add', cidr, 'dev', 'eth0']);
      await vsctl('add-port', bridge, port);
      const [ofport = '', error = ''] = (await vsctl('get', 'interface', port, 'ofport', 'error')).trim().split('\n');
      if (!/^\d+$/.test(ofport) || error !== '[]') throw new Error(`port ${port} on ${bridge} did not come up: ofport ${ofport}, error ${error}`);
      const addr = (cidr: string | undefined): string | null => cidr?.split('/')[0] ?? null;
      return { netns: ns, bridge, port, ofport: Number(ofport), v4: addr(o.v4), v6: addr(o.v6) };
    },

    async ping(from, to, p = {}) {
      const family = to.includes(':') ? '-6' : '-4';
      // With a deadline, ping probes once a second until the first reply or the deadline (-w):
      // a reach that needs ARP/ND or MAC learning first is not judged on one probe.
      const wait = p.deadlineS === undefined ? ['-c', String(p.count ?? 1), '-W', String(p.timeoutS ?? 1)] : ['-c', '1', '-w', String(p.deadlineS)];
      // A neighbour entry left FAILED by an earlier ping that was meant to fail can stay FAILED
      // for the whole deadline on a loaded host (seen with another test file running): start clean.
      if (p.deadlineS !== undefined) await exec('ip', ['-n', from.netns, 'neigh', 'flush', 'all']);
      const args = ['netns', 'exec', from.netns, 'ping', family, '-n', '-q', ...wait, to];
      return exec('ip', args).then(
        () => true,
        () => false,
      );
    },

    pids: () => ({ ovsdb: ourPid('ovsdb-server'), vswitchd: ourPid('ovs-vswitchd') }),
    namespaces: () => [...created],
    killVswitchd: () => stopDaemon('ovs-vswitchd', 'SIGKILL'),
    startVswitchd,
    async stopAll() {
      await stopDaemon('ovs-vswitchd', 'SIGTERM');
      await stopDaemon('ovsdb-server', 'SIGTERM');
    },
    async startAll() {
      await startDb();
      await startVswitchd();
    },
  };
  return sandbox;
}

/** The namespaces of `names` that exist now (a leak check). */
export async function existingNamespaces(names: readonly string[]): Promise<string[]> {
  const out = await exec('ip', ['netns', 'list']);
  const present = new Set(out.split('\n').map((l) => l.split(' ')[0]));
  return names.filter((n) => present.has(n));
}

/** True while `pid` is a process that has not exited (a zombie counts as exited). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Fails loudly when a tool is missing: an OVS test that skips proves nothing. */
function preflight(): void {
  const missing = BINARIES.filter((bin) => !PATH.split(delimiter).some((d) => d !== '' && isExecutable(join(d, bin))));
  if (missing.length > 0) throw new Error(`OVS tests need ${missing.join(', ')}: ${INSTALL_HINT}`);
  if (!existsSync(SCHEMA)) throw new Error(`OVS tests need ${SCHEMA}: ${INSTALL_HINT}`);
  if (process.getuid?.() !== 0) throw new Error(`OVS tests create namespaces and veths: run them as root (${INSTALL_HINT})`);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function exec(bin: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env: env ?? { PATH }, timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin} ${args.join(' ')}: ${err.message.trim()} ${stderr.trim()}`));
      else resolve(stdout);
    });
  });
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** Polls `attempt` until it resolves, with a deadline (no fixed sleeps). */
async function until(what: string, attempt: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      await attempt();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: not ready within ${READY_TIMEOUT_MS} ms: ${String(err)}`, { cause: err });
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
