// A cluster of real daemon processes that gossip (SPEC §8), for tests across hosts: N daemons
// (node ids hv-1..hv-N) sharing one HMAC secret file, every link between two of them through a
// TCP forwarder of its own (test/helpers/tcp-forwarder.ts), so a test can cut one host off from
// all the others and heal it, and optionally a private Open vSwitch per daemon
// (test/helpers/ovs.ts) as that host's data plane. Everything started here is stopped by
// t.teardown, pass or fail (the daemons by their pids, the sandboxes by theirs, the forwarders
// closed, the secret's folder removed).
//
// One link per pair: of hosts i < j, j dials i (through the pair's forwarder), so a daemon dials
// only daemons started before it and its first dial is answered.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { repairState } from '../../src/domain/merge.js';
import { replicaOfUnversioned } from '../../src/domain/replica.js';
import { LiveStatuses, type Peering, type State, type Vpc } from '../../src/domain/types.js';
import type { RpcClient } from '../../src/rpc/client.js';
import { type DaemonHandle, startGossipDaemon } from './daemon.js';
import { type OvsSandbox, startOvs } from './ovs.js';
import { until } from './poll.js';
import { type Forwarder, startForwarder } from './tcp-forwarder.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** One host of the cluster. */
export interface ClusterNode {
  /** 1-based, as in the node id. */
  readonly index: number;
  /** `hv-<index>`. */
  readonly nodeId: string;
  readonly daemon: DaemonHandle;
  /** The host's private OVS (the daemon's `ovs.rundir`), or null when the cluster runs without. */
  readonly ovs: OvsSandbox | null;
  /** A client logged in as the operator; a new one after restart(). */
  readonly rpc: RpcClient;
  /** Starts the daemon again on its folder after a kill (`daemon.kill()`), and logs in again. */
  restart(args?: string[]): Promise<void>;
}

export interface ClusterOptions {
  readonly size: number;
  /** The pairs of hosts (1-based indexes) that gossip with each other; default every pair. */
  readonly links?: readonly (readonly [number, number])[];
  /** A private OVS per host, the daemon's data plane (`ovs.enabled: true`); default none (no-op mode). */
  readonly ovs?: boolean;
  /** Extra config of host `index`'s daemon; its `gossip` and `ovs` sections add to the cluster's own. */
  readonly config?: (index: number) => Record<string, unknown>;
}

/** A host's records as the operator lists them. */
export interface Records {
  readonly vpcs: Vpc[];
  readonly peerings: Peering[];
}

export interface Cluster {
  /** Host i is nodes[i - 1]. */
  readonly nodes: readonly ClusterNode[];
  node(index: number): ClusterNode;
  /**
   * Cuts every link to and from host `index` (each forwarder closes its connections and refuses
   * new ones), then waits until every daemon's status shows its links as they now should be.
   * Throws when that takes longer than 10 s.
   */
  cut(index: number): Promise<void>;
  /** Lets host `index`'s links through again (links to another host still cut stay cut); does not wait. */
  heal(index: number): void;
  /** Whether every daemon has exactly the links it should (connected, per status.gossip) given the cuts. */
  readonly linked: () => Promise<boolean>;
  /** Whether every daemon holds identical vpc.list and peering.list. */
  readonly identical: () => Promise<boolean>;
}

type Status = { gossip: { totals: { connected: number } } };

/** vpc.list and peering.list of a host, by an operator client. */
export async function records(rpc: RpcClient): Promise<Records> {
  const list = async <T>(method: string): Promise<T[]> => ((await rpc.call(method, {})) as { items: T[] }).items;
  return { vpcs: await list<Vpc>('vpc.list'), peerings: await list<Peering>('peering.list') };
}

/**
 * Starts the cluster: the sandboxes (if any) at once, then the daemons in index order, each
 * listening on a port it picks and dialling the forwarders of its links to the hosts before it
 * (a link's forwarder is made once the host it leads to listens). Resolves when the daemons are
 * listening (not yet linked: poll `linked()`).
 */
export async function startCluster(t: Teardown, opts: ClusterOptions): Promise<Cluster> {
  const { size } = opts;
  if (!Number.isInteger(size) || size < 1) throw new Error(`cluster size ${size} must be a positive integer`);
  const pairs = opts.links ?? Array.from({ length: size }, (_, i) => Array.from({ length: size - i - 1 }, (_, k) => [i + 1, i + k + 2] as const)).flat();
  for (const [i, j] of pairs) {
    if (!(Number.isInteger(i) && Number.isInteger(j) && i >= 1 && j <= size && i < j)) throw new Error(`link [${i}, ${j}] must be two hosts 1..${size}, smaller first`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-cluster-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const secretFile = join(dir, 'gossip.secret');
  writeFileSync(secretFile, randomBytes(48).toString('hex'), { mode: 0o600 });

  const links: { readonly ends: readonly [number, number]; readonly fwd: Forwarder }[] = [];
  t.teardown(() => Promise.all(links.map((l) => l.fwd.close())));

  const sandboxes = opts.ovs === true ? await Promise.all(Array.from({ length: size }, (_, i) => startOvs(t, { name: `hv${i + 1}` }))) : [];
  const nodes: ClusterNode[] = [];
  for (let index = 1; index <= size; index++) {
    const extra = opts.config?.(index) ?? {};
    const sb = sandboxes[index - 1] ?? null;
    const section = (key: string): Record<string, unknown> => (extra[key] as Record<string, unknown> | undefined) ?? {};
    const peers = links.filter((l) => l.ends[1] === index).map((l) => `ws://127.0.0.1:${l.fwd.port}`);
    // The daemon binds a free port itself (startGossipDaemon: a port chosen here and bound later
    // could be taken in between; seen: EADDRINUSE while the sandboxes started, other tests running).
    const daemon = await startGossipDaemon(t, {
      config: {
        ...extra,
        nodeId: `hv-${index}`,
        gossip: { peers, secretFile, antiEntropyIntervalMs: 200, ...section('gossip') },
        ...(sb === null ? {} : { ovs: { enabled: true, rundir: sb.rundir, ...section('ovs') } }),
      },
    });
    let rpc = await daemon.admin();
    // Host `index` listens now: the links it answers (to hosts after it) get their forwarders.
    for (const ends of pairs) if (ends[0] === index) links.push({ ends, fwd: await startForwarder(daemon.gossipPort) });
    nodes.push({
      index,
      nodeId: `hv-${index}`,
      daemon,
      ovs: sb,
      get rpc() {
        return rpc;
      },
      async restart(args) {
        await daemon.restart(args);
        rpc = await daemon.admin();
      },
    });
  }

  const isCut = new Set<number>();
  const linkUp = (l: (typeof links)[number]): boolean => !isCut.has(l.ends[0]) && !isCut.has(l.ends[1]);
  const node = (index: number): ClusterNode => {
    const n = nodes[index - 1];
    if (n === undefined) throw new Error(`there is no host ${index} in a cluster of ${size}`);
    return n;
  };
  const linked = async (): Promise<boolean> => {
    for (const n of nodes) {
      const want = links.filter((l) => l.ends.includes(n.index) && linkUp(l)).length;
      if (((await n.rpc.call('status', {})) as Status).gossip.totals.connected !== want) return false;
    }
    return true;
  };
  return {
    nodes,
    node,
    async cut(index) {
      node(index);
      isCut.add(index);
      for (const l of links) if (l.ends.includes(index)) l.fwd.cut();
      const down = await until(linked, 10_000);
      if (!down.ok) throw new Error(`host ${index} cut off, but the daemons' links did not all drop within ${down.ms} ms`);
    },
    heal(index) {
      node(index);
      isCut.delete(index);
      for (const l of links) if (linkUp(l)) l.fwd.heal();
    },
    linked,
    identical: async () => {
      const [first, ...rest] = await Promise.all(nodes.map(async (n) => JSON.stringify(await records(n.rpc))));
      return rest.every((r) => r === first);
    },
  };
}

/**
 * What breaks SPEC §3 in a host's records (empty when nothing does), one sentence each. Rules 1–5
 * are the domain's own: the post-merge repair (domain/merge.ts repairState, with the daemon's
 * `peering` policy from its config file) run over the listed records turns `failed` exactly the
 * live peerings that break one, so every repair it would make is a violation. Rule 6 as far as
 * records show it: a live peering's VPCs exist. SPEC §2: a terminal peering says why
 * (`statusReason`). Rule 2's "one live peering per unordered VPC pair" is also checked here
 * without the domain's code, so a repair that misjudges the rule it enforces is still caught.
 */
export async function ruleViolations(n: ClusterNode): Promise<string[]> {
  const { vpcs, peerings } = await records(n.rpc);
  const state: State = { vpcs: Object.fromEntries(vpcs.map((v) => [v.id, v])), peerings: Object.fromEntries(peerings.map((p) => [p.id, p])) };
  const policy = (await loadConfig(n.daemon.configPath)).peering;
  const out = repairState(replicaOfUnversioned(state, n.nodeId), policy).repairs.map(
    (r) => `${r.peeringId} breaks ${r.reason}${r.causeId === undefined ? '' : ` (against ${r.causeId})`}`,
  );
  const livePair = new Map<string, string>();
  for (const p of peerings) {
    const live = LiveStatuses.includes(p.status);
    const pair = [p.requesterVpcId, p.accepterVpcId].sort().join(' ');
    const other = livePair.get(pair);
    if (live && other !== undefined) out.push(`${p.id} and ${other} are both live for VPCs ${pair} (rule 2)`);
    if (live) livePair.set(pair, p.id);
    for (const id of [p.requesterVpcId, p.accepterVpcId]) if (live && state.vpcs[id] === undefined) out.push(`${p.id} is ${p.status} but VPC ${id} does not exist`);
    if (!live && !p.statusReason) out.push(`${p.id} is ${p.status} with no statusReason`);
  }
  return out;
}
