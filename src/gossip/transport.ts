// The WebSocket shell of gossip (SPEC §8; the only user of `ws`): listens on gossip.listen,
// dials gossip.peers, runs the handshake before anything else, then carries sealed frames
// between the sockets and the protocol engine. Bounded everywhere and never blocking:
// - ws's maxPayload is the frame limit, a handshake has a deadline, and a link whose send
//   buffer passes its cap is closed (the peer catches up by anti-entropy when it reconnects)
//   instead of queueing without end;
// - a dialled peer that goes away is redialled with exponential backoff and full jitter;
// - every link is pinged each heartbeatMs; one that missed a pong by the next ping is
//   terminated, so a black-holed peer (TCP up, nothing answering) is found within 2 heartbeats;
// - one logical link per pair of hosts: when both dial each other, the link dialled by the
//   smaller node id is kept, on both sides alike;
// - with `tls`, links are mutual TLS 1.3 (wss://) under the HMAC handshake, which runs unchanged:
//   a TLS failure is counted as TLS and logged once per peer address until a link from it is up.
// The engine behind it (service.ts: the store's replica) never makes a socket wait on the store.
import { randomBytes } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { peerSchemeProblem } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { GossipEngine, LinkPort, Scheduler } from './engine.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameOpener, FrameSealer } from './frame.js';
import { DialerHandshake, type LinkKeys, ListenerHandshake, NONCE_BYTES } from './handshake.js';
import type { FrameBodies, FrameType } from './messages.js';
import { type Refusal, type RefusalCode, RefusalCodes } from './refusal.js';
import { RoundPacer } from './round-pacer.js';

export interface TransportOptions {
  readonly nodeId: string;
  /** The shared secret (loadGossipSecret). */
  readonly secret: Buffer;
  /** Where to accept links, or null to only dial. Port 0 picks a free port. */
  readonly listen: { readonly host: string; readonly port: number } | null;
  /** URLs to dial: wss:// with `tls`, ws:// without (createTransport throws otherwise). */
  readonly peers: readonly string[];
  /**
   * Mutual TLS (loadGossipTls), or null/absent for plain ws. Both directions present `cert` and
   * require a peer certificate chaining to `ca`; a dialled peer's certificate must also name the
   * URL's host (DNS or IP subjectAltName), as for any https client.
   */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly ca: Buffer } | null;
  readonly engine: GossipEngine;
  readonly logger: Logger;
  readonly maxFrameBytes?: number;
  /** A link whose unsent bytes pass this is closed (default 8 MiB). */
  readonly maxQueuedBytes?: number;
  readonly handshakeTimeoutMs?: number;
  readonly heartbeatMs?: number;
  /**
   * ms between anti-entropy rounds on a link this side dialled, counted from the end of the last
   * (round-pacer.ts); a function is read before each round (SIGHUP).
   */
  readonly antiEntropyIntervalMs?: number | (() => number);
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
}

/** What `status()` reports per peer: a dialled URL or an accepted link. */
export interface PeerStatus {
  readonly url?: string;
  readonly nodeId?: string;
  readonly connected: boolean;
  readonly since?: string;
  readonly lastError?: string;
}

/** Counters for metrics: frames and bytes each way, refusals by code. */
export interface TransportStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** REFUSED_BY_PEER: the peer closed a link refusing what this side sent (its code is in the log). */
  readonly refusals: Partial<Record<RefusalCode | 'QUEUE_FULL' | 'DEAD_PEER' | 'HANDSHAKE_TIMEOUT' | 'TLS' | 'REFUSED_BY_PEER', number>>;
}

export interface GossipTransport {
  /** Starts listening and dialling; resolves with the bound port (null when not listening). */
  start(): Promise<{ port: number | null }>;
  /** Closes every link and the listener; idempotent. */
  close(): Promise<void>;
  status(): PeerStatus[];
  /**
   * Dials exactly `urls` from now on (SIGHUP): new ones at once, dropped ones are no longer
   * redialled and their links closed. Links a peer dialled to us are not touched.
   */
  setPeers(urls: readonly string[]): void;
  readonly stats: TransportStats;
}

/** Close codes this transport uses (4000–4999 are the application's). */
const CLOSE = { refused: 4001, duplicate: 4002, queueFull: 4003, shutdown: 1001 } as const;

/** Both ends are this daemon on Node ≥ 20: no older peer to be compatible with. */
const TLS_MIN_VERSION = 'TLSv1.3';
/** Peer addresses whose last TLS failure was logged, at most this many (a scan must not grow it). */
const MAX_TLS_LOGGED = 1024;

/** OpenSSL's certificate verification results, as Node names them on the error's `code`. */
const X509_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_CHAIN_TOO_LONG', 'CERT_REVOKED',
  'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH',
]);

/** Whether a socket error is the TLS layer refusing (a certificate, an alert, not TLS at all) rather than the network. */
function isTlsError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && (/^ERR_(SSL|TLS)_/.test(code) || X509_VERIFY_CODES.has(code));
}

/** Timers that do not keep the process alive (the transport's links are closed by close()). */
const unrefTimer: Scheduler = (ms, run) => {
  const timer = setTimeout(run, ms).unref();
  return () => clearTimeout(timer);
};

interface Link extends LinkPort {
  readonly ws: WebSocket;
  readonly dialerNode: string;
  readonly since: Date;
  close(code: number, reason: string): void;
}

/** What a refusal code refuses, for "refused peer's proof" / "peer refused our proof". */
function refusedThing(code: RefusalCode): string {
  if (code === 'BAD_PROOF') return 'proof';
  if (code === 'BAD_HANDSHAKE') return 'handshake';
  if (code === 'SAME_NODE') return 'node id';
  return 'frame';
}

/** The cause an operator acts on, when a code has one (docs/GOSSIP.md "Operator's recovery steps"). */
function refusalHint(code: RefusalCode): string | undefined {
  return code === 'BAD_PROOF' ? 'the two hosts hold different gossip secrets' : undefined;
}

const isRefusalCode = (s: string): s is RefusalCode => Object.hasOwn(RefusalCodes, s);

/**
 * Why the peer closed a link with `code` and `reason` (its close frame): a refusal names what of
 * ours it refused; ws echoes a close frame, so this is only right for a close this side did not start.
 */
function closedByPeer(code: number, reason: string): string {
  if (code === CLOSE.refused && isRefusalCode(reason)) {
    const hint = refusalHint(reason);
    return `peer refused our ${refusedThing(reason)}: ${reason}${hint === undefined ? '' : ` (${hint})`}`;
  }
  if (code === CLOSE.duplicate) return 'peer dropped the link as a duplicate of one it already has';
  return `closed by peer: ${reason || code}`;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export function createTransport(opts: TransportOptions): GossipTransport {
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const maxQueuedBytes = opts.maxQueuedBytes ?? 8 * 1024 * 1024;
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 5000;
  const heartbeatMs = opts.heartbeatMs ?? 1000;
  const roundIntervalMs = (): number => {
    const v = opts.antiEntropyIntervalMs ?? 2000;
    return typeof v === 'function' ? v() : v;
  };
  const backoffMinMs = opts.backoffMinMs ?? 100;
  const backoffMaxMs = opts.backoffMaxMs ?? 30_000;
  const log = opts.logger.child({ component: 'gossip' });
  const stats: TransportStats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, refusals: {} };
  const links = new Map<string, Link>();
  // upAt: when the URL's link came up; the backoff resets only once a link has stayed up a while.
  const dialled = new Map<string, { nodeId?: string; attempt: number; timer?: NodeJS.Timeout; ws?: WebSocket; lastError?: string; upAt?: number }>();
  const sharedIdWarned = new Set<string>();
  const sockets = new Set<WebSocket>();
  // Sockets this side closed as refused or duplicate, with why: the close event then carries the
  // peer's echo of our own close frame, which must not read as the peer's doing.
  const closedHere = new WeakMap<WebSocket, string>();
  let server: WebSocketServer | undefined;
  let httpsServer: HttpsServer | undefined;
  const tlsLogged = new Map<string, string>();
  for (const url of opts.peers) {
    const problem = peerSchemeProblem(url, Boolean(opts.tls));
    if (problem) throw new Error(`gossip peer ${url} ${problem}`);
  }
  let closed = false;
  let started = false;

  const count = (code: keyof TransportStats['refusals']): void => {
    stats.refusals[code] = (stats.refusals[code] ?? 0) + 1;
  };

  /** Counts a TLS failure; logs it when it is the first from `address`, or a different one. */
  function tlsRefused(address: string, e: unknown): void {
    count('TLS');
    const reason = e instanceof Error ? e.message : String(e);
    const code = (e as NodeJS.ErrnoException | undefined)?.code ?? 'TLS';
    if (tlsLogged.get(address) === code) return;
    tlsLogged.delete(address);
    if (tlsLogged.size >= MAX_TLS_LOGGED) tlsLogged.delete(tlsLogged.keys().next().value!);
    tlsLogged.set(address, code);
    log.warn('gossip link refused', { peer: address, code: 'TLS', reason });
  }

  function refuseLink(ws: WebSocket, address: string, r: Refusal): void {
    // The first refusal ends the link: what the peer sent behind it (still arriving while the
    // close handshake runs) is neither processed nor refused, logged and counted again.
    ws.removeAllListeners('message');
    count(r.code);
    log.warn('gossip link refused', { peer: address, code: r.code, reason: r.message });
    closedHere.set(ws, `refused peer's ${refusedThing(r.code)}: ${r.code} (${refusalHint(r.code) ?? r.message})`);
    ws.close(CLOSE.refused, r.code);
  }

  /** After a handshake: one link per peer node, frames in order through the engine. */
  function establish(ws: WebSocket, address: string, keys: LinkKeys, initiator: boolean, url?: string): void {
    const dialerNode = initiator ? opts.nodeId : keys.peerNode;
    // Who is at this URL is now known, kept or not: status folds it into the link, dial() waits on it.
    const d = url === undefined ? undefined : dialled.get(url);
    if (d) d.nodeId = keys.peerNode;
    const existing = links.get(keys.peerNode);
    if (existing) {
      // Keep the link dialled by the smaller node id (both sides decide alike); at a tie the older.
      const keepNew = dialerNode < existing.dialerNode;
      // Both links dialled from here, to two URLs: two gossip.peers entries reach one host (a path,
      // a name and an address...), not a shared node id.
      const twin = initiator && existing.initiator ? [...dialled].find(([u, e]) => u !== url && e.nodeId === keys.peerNode)?.[0] : undefined;
      if (twin !== undefined && url !== undefined && !sharedIdWarned.has(keys.peerNode)) {
        sharedIdWarned.add(keys.peerNode);
        log.warn('gossip: two entries of gossip.peers reach one host; list it once', { peers: [twin, url], peerNodeId: keys.peerNode });
      } else if (dialerNode === existing.dialerNode && existing.ws.readyState === WebSocket.OPEN && !sharedIdWarned.has(keys.peerNode)) {
        // The same dialler twice while its first link is up: a restart not yet seen, or two hosts
        // configured with one nodeId (SAME_NODE catches that only between the two themselves).
        sharedIdWarned.add(keys.peerNode);
        log.warn('gossip: a second link from a node already linked; two hosts may share this nodeId', {
          peer: address, peerNodeId: keys.peerNode, linkedSince: existing.since.toISOString(),
        });
      }
      const duplicate = `dropped here as a duplicate: another link to ${keys.peerNode} is kept`;
      if (!keepNew) {
        closedHere.set(ws, duplicate);
        ws.close(CLOSE.duplicate, 'duplicate link');
        return;
      }
      closedHere.set(existing.ws, duplicate);
      existing.close(CLOSE.duplicate, 'duplicate link');
    }
    const sealer = new FrameSealer(keys.send);
    const opener = new FrameOpener(keys.receive, maxFrameBytes);
    let alive = true;
    let chain = Promise.resolve();
    const link: Link = {
      ws,
      peerNode: keys.peerNode,
      initiator,
      dialerNode,
      since: new Date(),
      send: <K extends FrameType>(type: K, body: FrameBodies[K]) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (ws.bufferedAmount > maxQueuedBytes) {
          count('QUEUE_FULL');
          link.close(CLOSE.queueFull, 'send queue full');
          return;
        }
        const bytes = sealer.seal(type, body);
        stats.framesOut++;
        stats.bytesOut += bytes.length;
        ws.send(bytes);
      },
      close: (code, reason) => {
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
      },
    };
    links.set(keys.peerNode, link);
    tlsLogged.delete(url ?? address.replace(/:[^:]*$/, ''));
    if (d) {
      d.upAt = Date.now();
      d.lastError = undefined;
    }
    log.info('gossip link up', { peer: address, peerNodeId: keys.peerNode, initiator });
    ws.on('message', (data, isBinary) => {
      const bytes = toBuffer(data);
      stats.framesIn++;
      stats.bytesIn += bytes.length;
      const r = isBinary ? opener.open(bytes) : ({ ok: false, refusal: { code: 'MALFORMED_FRAME', message: 'a text message after the handshake' } } as const);
      if (!r.ok) {
        refuseLink(ws, address, r.refusal);
        return;
      }
      chain = chain.then(() => opts.engine.onFrame(link, r.value)).catch((e: unknown) => {
        log.error('gossip frame failed', { peer: address, err: e });
        link.close(CLOSE.refused, 'internal error');
      });
    });
    ws.on('pong', () => {
      alive = true;
    });
    const heartbeat = setInterval(() => {
      if (!alive) {
        count('DEAD_PEER');
        log.warn('gossip peer stopped answering', { peer: address, peerNodeId: keys.peerNode });
        closedHere.set(ws, `the peer stopped answering (no pong within ${heartbeatMs} ms)`);
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, heartbeatMs);
    // The dialler's rounds: the next an interval after the last ended (or its ceiling passed).
    const rounds = initiator ? new RoundPacer(opts.engine, link, { intervalMs: roundIntervalMs, schedule: unrefTimer }) : null;
    link.roundEnded = () => rounds?.ended();
    ws.once('close', () => {
      clearInterval(heartbeat);
      rounds?.stop();
      if (links.get(keys.peerNode) === link) links.delete(keys.peerNode);
      opts.engine.removeLink(link);
      // A link the peer dialled went down: our own dial to that host (waiting) tries now.
      if (!initiator && !closed) {
        for (const [u, d] of dialled) {
          if (d.nodeId === keys.peerNode && d.ws?.readyState !== WebSocket.OPEN) {
            clearTimeout(d.timer);
            d.timer = setTimeout(() => dial(u), Math.random() * backoffMinMs);
          }
        }
      }
      log.info('gossip link down', { peer: address, peerNodeId: keys.peerNode });
    });
    opts.engine.addLink(link);
    rounds?.start();
  }

  /** Runs the handshake on a fresh socket; `dialer` for the side that dialled. */
  function handshake(ws: WebSocket, address: string, url?: string): void {
    sockets.add(ws);
    ws.once('close', (code, reason) => {
      sockets.delete(ws);
      // The peer refused this side (a listener whose proof a dialler refused sees only this): said
      // once per link, like a refusal made here.
      if (code !== CLOSE.refused || closedHere.has(ws)) return;
      const text = reason.toString();
      count('REFUSED_BY_PEER');
      log.warn('gossip link refused by peer', { peer: address, ...(isRefusalCode(text) ? { code: text } : {}), reason: closedByPeer(code, text) });
    });
    ws.on('error', (e) => {
      // ws refuses a message over maxPayload itself (closing with 1009): still a refusal of this peer.
      if ((e as NodeJS.ErrnoException).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        ws.removeAllListeners('message');
        count('FRAME_TOO_LARGE');
        log.warn('gossip link refused', { peer: address, code: 'FRAME_TOO_LARGE', reason: `a message over ${maxFrameBytes} bytes` });
        return;
      }
      log.debug('gossip socket error', { peer: address, err: e });
    });
    const deadline = setTimeout(() => {
      count('HANDSHAKE_TIMEOUT');
      log.warn('gossip handshake timed out', { peer: address });
      closedHere.set(ws, `the handshake did not finish within ${handshakeTimeoutMs} ms (a peer that accepts connections but does not answer)`);
      ws.terminate();
    }, handshakeTimeoutMs);
    ws.once('close', () => clearTimeout(deadline));
    const done = (keys: LinkKeys): void => {
      clearTimeout(deadline);
      ws.removeAllListeners('message');
      establish(ws, address, keys, url !== undefined, url);
    };
    if (url !== undefined) {
      const d = new DialerHandshake(opts.secret, opts.nodeId, randomBytes(NONCE_BYTES));
      ws.once('open', () => ws.send(d.hello()));
      ws.once('message', (data) => {
        const r = d.onChallenge(toBuffer(data));
        if (!r.ok) return refuseLink(ws, address, r.refusal);
        ws.send(r.value.reply);
        done(r.value.keys);
      });
    } else {
      const l = new ListenerHandshake(opts.secret, opts.nodeId, randomBytes(NONCE_BYTES));
      let step = 0;
      ws.on('message', (data) => {
        const bytes = toBuffer(data);
        if (step++ === 0) {
          const r = l.onHello(bytes);
          if (!r.ok) return refuseLink(ws, address, r.refusal);
          ws.send(r.value);
          return;
        }
        const r = l.onProof(bytes);
        if (!r.ok) return refuseLink(ws, address, r.refusal);
        done(r.value);
      });
    }
  }

  function dial(url: string): void {
    const d = dialled.get(url);
    if (!d || closed) return;
    if (d.nodeId !== undefined && links.has(d.nodeId)) {
      // Already linked to that host (it dialled us): look again later.
      d.timer = setTimeout(() => dial(url), backoffMaxMs);
      return;
    }
    const tls = opts.tls ? { cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, rejectUnauthorized: true, minVersion: TLS_MIN_VERSION } as const : {};
    const ws = new WebSocket(url, { maxPayload: maxFrameBytes, handshakeTimeout: handshakeTimeoutMs, perMessageDeflate: false, ...tls });
    d.ws = ws;
    handshake(ws, url, url);
    ws.on('error', (e) => {
      // Under TLS 1.3 a listener that refuses our certificate just closes: the dialler sees a reset.
      const refusedUs = opts.tls && (e as NodeJS.ErrnoException).code === 'ECONNRESET';
      d.lastError = isTlsError(e) ? `TLS: ${e.message}` : refusedUs ? `${e.message} (with TLS: the peer may not trust this daemon's certificate; check it chains to the peer's caFile)` : e.message;
      if (opts.tls && isTlsError(e)) tlsRefused(url, e);
    });
    ws.once('close', (code, reason) => {
      const here = closedHere.get(ws);
      if (here !== undefined) d.lastError = here;
      else if (code === CLOSE.refused || code === CLOSE.duplicate) d.lastError = closedByPeer(code, reason.toString());
      if (closed) return;
      // A link that closes soon after coming up (a peer that drops it as a duplicate) keeps
      // backing off: only one that stayed up longer than the longest backoff starts again fast.
      if (d.upAt !== undefined && Date.now() - d.upAt > backoffMaxMs) d.attempt = 0;
      d.upAt = undefined;
      // Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): spreads the redials of many hosts.
      const ceiling = Math.min(backoffMaxMs, backoffMinMs * 2 ** d.attempt);
      d.attempt = Math.min(d.attempt + 1, 30);
      clearTimeout(d.timer);
      d.timer = setTimeout(() => dial(url), Math.random() * ceiling);
    });
  }

  function setPeers(urls: readonly string[]): void {
    if (closed || !started) return;
    for (const [url, d] of dialled) {
      if (urls.includes(url)) continue;
      dialled.delete(url);
      clearTimeout(d.timer);
      d.ws?.close(CLOSE.shutdown, 'peer removed from gossip.peers');
    }
    for (const url of urls) {
      if (dialled.has(url)) continue;
      dialled.set(url, { attempt: 0 });
      dial(url);
    }
  }

  return {
    stats,
    async start() {
      let port: number | null = null;
      if (opts.listen) {
        const common = { maxPayload: maxFrameBytes, perMessageDeflate: false } as const;
        let wss: WebSocketServer;
        if (opts.tls) {
          // rejectUnauthorized: a peer without a certificate chaining to `ca` never gets past TLS.
          const https = createHttpsServer({
            cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca,
            requestCert: true, rejectUnauthorized: true, minVersion: TLS_MIN_VERSION, handshakeTimeout: handshakeTimeoutMs,
          });
          httpsServer = https;
          // A failed handshake has destroyed the TLS socket by the time it is reported, and with it
          // its address: the TCP socket under it (Node's `_parent`) answers if asked while alive.
          https.on('connection', (tcp: Socket) => void tcp.remoteAddress);
          https.on('tlsClientError', (e, socket) => tlsRefused(socket.remoteAddress ?? (socket as { _parent?: Socket })._parent?.remoteAddress ?? '?', e));
          wss = new WebSocketServer({ server: https, ...common });
          await new Promise<void>((resolve, reject) => {
            https.once('error', reject);
            https.listen(opts.listen!.port, opts.listen!.host, () => {
              https.off('error', reject);
              resolve();
            });
          });
          https.on('error', (e) => log.error('gossip listener error', { err: e }));
        } else {
          wss = new WebSocketServer({ host: opts.listen.host, port: opts.listen.port, ...common });
          await new Promise<void>((resolve, reject) => {
            wss.once('listening', resolve);
            wss.once('error', reject);
          });
        }
        server = wss;
        wss.on('error', (e) => log.error('gossip listener error', { err: e }));
        wss.on('connection', (ws, req) => handshake(ws, `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`));
        port = (wss.address() as AddressInfo).port;
      }
      started = true;
      setPeers(opts.peers);
      return { port };
    },
    setPeers,
    async close() {
      if (closed) return;
      closed = true;
      for (const d of dialled.values()) clearTimeout(d.timer);
      const gone = [...sockets].map((ws) => new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.terminate();
      }));
      await Promise.all(gone);
      if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
      if (httpsServer) {
        // WebSocketServer does not close a server it was given; connections still in TLS go too.
        const closing = new Promise<void>((resolve) => httpsServer!.close(() => resolve()));
        httpsServer.closeAllConnections();
        await closing;
      }
    },
    status() {
      const out: PeerStatus[] = [];
      const seen = new Set<string>();
      for (const [url, d] of dialled) {
        const link = d.nodeId === undefined ? undefined : links.get(d.nodeId);
        if (link) seen.add(link.peerNode);
        out.push({
          url,
          ...(d.nodeId === undefined ? {} : { nodeId: d.nodeId }),
          connected: link !== undefined,
          ...(link ? { since: link.since.toISOString() } : {}),
          // A connected peer's last error is history: shown only while it is down.
          ...(d.lastError === undefined || link !== undefined ? {} : { lastError: d.lastError }),
        });
      }
      for (const link of links.values()) {
        if (!seen.has(link.peerNode)) out.push({ nodeId: link.peerNode, connected: true, since: link.since.toISOString() });
      }
      return out;
    },
  };
}
