// Gossip as one part of the daemon (SPEC §8): the store-backed replica, the protocol engine and
// the WebSocket transport, built from the config's `gossip` section, with what status.gossip and
// the metrics show. Nothing here is on the path of an RPC reply or a reconcile pass: the store's
// commit listener hands local changes to the engine, which only queues frames.
import { type Config, formatHostPort } from '../config/schema.js';
import type { PeeringPolicy } from '../domain/types.js';
import type { Logger } from '../log/logger.js';
import type { ContactMark } from '../store/contact.js';
import type { Store } from '../store/store.js';
import { BEAT_RELAY_WINDOW_MS, GossipEngine, type Scheduler } from './engine.js';
import { HEARTBEAT_ROUNDS, type HeldReport, HostReports, type ReportEntry } from './host-reports.js';
import type { RefusalCode } from './refusal.js';
import type { GossipTls } from './tls.js';
import { StoreReplica, type ReplicaStats } from './store-replica.js';
import { createTransport, type GossipTransport, type PeerStatus, type TransportStats } from './transport.js';

/** One peer in status.gossip: a dialled URL or a host that dialled us. */
export interface GossipPeerStatus extends PeerStatus {
  /** When an anti-entropy round with this peer last found both sides holding the same records (ISO-8601). */
  readonly lastSyncAt?: string;
  /** Records this host asked the peer for in the last round (0 once in sync). */
  readonly recordsBehind?: number;
}

/** status.gossip (SPEC §5). */
export interface GossipStatus {
  readonly enabled: boolean;
  readonly nodeId: string;
  /** The address links are accepted on, with the bound port; null when only dialling or disabled. */
  readonly listen: string | null;
  /** When this host was last in sync with a peer (ISO-8601), null if never (store/contact.ts). */
  readonly lastContactAt: string | null;
  /** Whether that is longer ago than gossip.tombstoneRetentionSeconds: the host resyncs from its peers (docs/GOSSIP.md). */
  readonly resyncing: boolean;
  readonly peers: readonly GossipPeerStatus[];
  readonly totals: {
    readonly peers: number;
    readonly connected: number;
    readonly framesIn: number;
    readonly framesOut: number;
    readonly bytesIn: number;
    readonly bytesOut: number;
    readonly merges: number;
    readonly conflictsResolved: number;
    readonly refusals: Readonly<Partial<Record<RefusalCode | 'QUEUE_FULL' | 'DEAD_PEER' | 'HANDSHAKE_TIMEOUT' | 'CLOCK_AHEAD', number>>>;
  };
}

export interface GossipService {
  /** Starts listening and dialling; resolves once the listener is bound. */
  start(): Promise<void>;
  close(): Promise<void>;
  status(): GossipStatus;
  /** The counters behind the metrics. */
  readonly stats: { readonly transport: TransportStats; readonly replica: ReplicaStats };
  /** A reloaded peer list (SIGHUP). */
  setPeers(urls: readonly string[]): void;
  /** After the sweep purged tombstones (not a commit): the digest forgets them too. */
  tombstonesPurged(): void;
  /**
   * This host's data plane may have changed (a reconcile pass ended, a commit): its report is
   * rebuilt within REPORT_DELAY_MS (changes in between are coalesced) and sent if it differs.
   */
  dataplaneChanged(): void;
  /** Other hosts' last reports, with when each was last heard from (peering.get `hosts`). */
  hostReports(): readonly HeldReport[];
}

/** How long a data-plane change waits before this host's report is rebuilt (ms): a burst of commits and passes becomes one report. */
export const REPORT_DELAY_MS = 50;

export interface GossipServiceOptions {
  readonly nodeId: string;
  /** The section as at start; `listen`, `secretFile` and `tls` change only with a restart. */
  readonly gossip: Config['gossip'];
  /** gossip.antiEntropyIntervalMs now (SIGHUP changes it), read before each round. */
  readonly antiEntropyIntervalMs: () => number;
  /** gossip.tombstoneRetentionSeconds now (SIGHUP changes it). */
  readonly tombstoneRetentionSeconds: () => number;
  /** When this host was last in sync with a peer, kept across restarts (store/contact.ts). */
  readonly contact: ContactMark;
  /** The shared HMAC key (loadGossipSecret). */
  readonly secret: Buffer;
  /** Mutual TLS under the HMAC (loadGossipTls), or null. */
  readonly tls: GossipTls | null;
  readonly store: Store;
  readonly policy: () => PeeringPolicy;
  readonly logger: Logger;
  /** Replication lag of each accepted slot, in ms (the metrics' histogram). */
  readonly onLag?: (ms: number) => void;
  /** This host's data plane now, one entry per peering held (host-reports.ts reportEntry). */
  readonly dataplaneReport: () => readonly ReportEntry[];
  /** Transport timings (tests); production uses the transport's defaults. */
  readonly heartbeatMs?: number;
}

/** Builds the gossip part; nothing listens or dials before start(). */
export function createGossipService(opts: GossipServiceOptions): GossipService {
  const log = opts.logger;
  const rounds = new Map<string, { lastSyncAt?: string; recordsBehind: number }>();
  let engine: GossipEngine | null = null;
  /** The last contact's ms when it is longer ago than the tombstone retention (this host resyncs), else null. */
  const awaySince = (): number | null => {
    const last = opts.contact.lastContactAt;
    if (last === null) return null;
    return Date.now() - last.getTime() > opts.tombstoneRetentionSeconds() * 1000 ? last.getTime() : null;
  };
  const replica = new StoreReplica({
    awaySince,
    store: opts.store,
    policy: opts.policy,
    logger: log,
    onLocalCommit: (batch) => engine?.onLocalCommit(batch),
    ...(opts.onLag ? { onLag: opts.onLag } : {}),
  });
  const heartbeatMs = (): number => HEARTBEAT_ROUNDS * opts.antiEntropyIntervalMs();
  const reports = new HostReports(opts.nodeId, Date.now, heartbeatMs);
  const observeRound = (peerNode: string, round: { readonly inSync: boolean; readonly behind: number }): void => {
    const r = rounds.get(peerNode) ?? { recordsBehind: 0 };
    r.recordsBehind = round.behind;
    if (round.inSync) r.lastSyncAt = new Date().toISOString();
    rounds.set(peerNode, r);
    // In contact: a round with a peer ended. A host that was away counts only once it is in sync again (its resync is done).
    const wasAway = awaySince() !== null;
    if (round.inSync || !wasAway) opts.contact.mark(new Date());
    if (wasAway && round.inSync) log.warn('gossip: resync done: in sync with a peer again', { peer: peerNode });
  };
  /** Timers that do not keep the process alive (close() ends the links that would use them). */
  const schedule: Scheduler = (ms, run) => {
    const timer = setTimeout(run, ms).unref();
    return () => clearTimeout(timer);
  };
  engine = new GossipEngine(replica, undefined, observeRound, reports, { schedule, windowMs: BEAT_RELAY_WINDOW_MS });
  let reportTimer: NodeJS.Timeout | null = null;
  let beatTimer: NodeJS.Timeout | null = null;
  let closed = false;
  /** Every heartbeatMs() (read again each time: SIGHUP may change the interval), this host tells every link it is alive. */
  const beatLater = (): void => {
    beatTimer = setTimeout(() => {
      if (closed) return;
      engine?.heartbeat();
      beatLater();
    }, heartbeatMs()).unref();
  };
  const publishReport = (): void => {
    reportTimer = null;
    if (closed) return;
    const parts = reports.publish(opts.dataplaneReport());
    if (parts) engine?.publishReport(parts);
  };
  const transport: GossipTransport = createTransport({
    nodeId: opts.nodeId,
    secret: opts.secret,
    tls: opts.tls,
    listen: opts.gossip.listen,
    peers: opts.gossip.peers,
    engine,
    logger: log,
    antiEntropyIntervalMs: opts.antiEntropyIntervalMs,
    ...(opts.heartbeatMs === undefined ? {} : { heartbeatMs: opts.heartbeatMs }),
  });
  /** The address links are accepted on, once bound. */
  let listening: string | null = null;

  return {
    async start() {
      // The first report exists before any link does, so every new link is sent it.
      publishReport();
      if (awaySince() !== null) {
        log.warn('gossip: this host was away longer than gossip.tombstoneRetentionSeconds: it resyncs from its peers, ending the records they deleted meanwhile', {
          lastContactAt: opts.contact.lastContactAt?.toISOString(),
        });
      }
      const { port } = await transport.start();
      beatLater();
      listening = opts.gossip.listen && port !== null ? formatHostPort(opts.gossip.listen.host, port) : null;
      log.info('gossip started', { listen: listening, peers: opts.gossip.peers });
    },
    async close() {
      closed = true;
      if (reportTimer) clearTimeout(reportTimer);
      if (beatTimer) clearTimeout(beatTimer);
      await transport.close();
      replica.close();
    },
    stats: { transport: transport.stats, replica: replica.stats },
    setPeers: (urls) => transport.setPeers(urls),
    tombstonesPurged: () => replica.refreshDigest(),
    dataplaneChanged() {
      if (!closed) reportTimer ??= setTimeout(publishReport, REPORT_DELAY_MS).unref();
    },
    hostReports: () => reports.others(),
    status() {
      const peers = transport.status().map((p): GossipPeerStatus => {
        const r = p.nodeId === undefined ? undefined : rounds.get(p.nodeId);
        return { ...p, ...(r?.lastSyncAt ? { lastSyncAt: r.lastSyncAt } : {}), ...(r ? { recordsBehind: r.recordsBehind } : {}) };
      });
      const t = transport.stats;
      const refusals = { ...t.refusals, ...(replica.stats.clockAhead > 0 ? { CLOCK_AHEAD: replica.stats.clockAhead } : {}) };
      return {
        enabled: true,
        nodeId: opts.nodeId,
        listen: listening,
        lastContactAt: opts.contact.lastContactAt?.toISOString() ?? null,
        resyncing: awaySince() !== null,
        peers,
        totals: {
          peers: peers.length,
          connected: peers.filter((p) => p.connected).length,
          framesIn: t.framesIn,
          framesOut: t.framesOut,
          bytesIn: t.bytesIn,
          bytesOut: t.bytesOut,
          merges: replica.stats.merges,
          conflictsResolved: replica.stats.conflictsResolved,
          refusals,
        },
      };
    },
  };
}

/** status.gossip with gossip off (no listen, no peers). */
export function disabledGossipStatus(nodeId: string): GossipStatus {
  return {
    enabled: false,
    nodeId,
    listen: null,
    lastContactAt: null,
    resyncing: false,
    peers: [],
    totals: { peers: 0, connected: 0, framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, merges: 0, conflictsResolved: 0, refusals: {} },
  };
}
