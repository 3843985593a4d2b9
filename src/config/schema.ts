// The configuration: one zod schema with every key of the file, its production default and its
// documentation (the `describe` text is what docs/CONFIG.md prints), and the Config type the
// daemon runs with. The schema checks the file as written; load.ts derives Config from it
// (absolute paths, numbers from the hex and octal strings).
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { NODE_ID_PATTERN } from '../domain/types.js';
import { LogLevels, type LogLevel } from '../log/logger.js';

const COOKIE_PATTERN = /^0x[0-9a-fA-F]{1,4}$/;
const MODE_PATTERN = /^0[0-7]{3}$/;
const GROUP_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;
const HOST_PORT_PATTERN = /^(?:\[([^\]]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;
const COOKIE_ERROR = 'must be a non-zero hex string of at most 16 bits, like "0x5ee0"';
const LISTEN_ERROR = 'must be "host:port" (IPv6 as "[::1]:7946", port 0 to 65535) or null';
const METRICS_LISTEN_ERROR = 'must be "address:port" with a loopback address (127.0.0.0/8 or [::1]), or null';
const MAX_PATH_LENGTH = 4096;
const MAX_GOSSIP_PEERS = 256;
const MiB = 1024 * 1024;
const DAY_SECONDS = 86_400;
const YEAR_SECONDS = 365 * DAY_SECONDS;

function int(min: number, max: number) {
  const error = `must be an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

/** `typeText` names the type in docs/CONFIG.md where "string" would say too little. */
function matching(pattern: RegExp, error: string, typeText?: string) {
  const schema = z.string({ error }).regex(pattern, { error });
  return typeText === undefined ? schema : schema.meta({ typeText });
}

function path(error: string) {
  return z
    .string({ error })
    .min(1, { error })
    .max(MAX_PATH_LENGTH, { error })
    .refine((p) => !p.includes('\0'), { error })
    .meta({ typeText: 'path' });
}

/** A section: an object whose absent keys take their defaults, and which refuses unknown keys. */
function section<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  return z.strictObject(shape, { error: 'must be an object' });
}

/** `host:port` (IPv6 host in brackets) → its parts, or null when malformed. Port 0 is allowed. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const m = HOST_PORT_PATTERN.exec(text);
  if (m === null) return null;
  const [, v6, name, portText] = m;
  if (v6 !== undefined && !isIPv6(v6)) return null;
  const port = Number(portText);
  if (port > 65_535) return null;
  return { host: v6 ?? name ?? '', port };
}

/** The text of a `host:port` as parseHostPort reads it (an IPv6 host in brackets). */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The one scheme rule of gossip.peers: wss:// exactly when gossip.tls is set (the listeners speak
 * only TLS then, and only plain WebSocket otherwise). What is wrong with `url`, or null.
 */
export function peerSchemeProblem(url: string, tlsOn: boolean): string | null {
  if (!URL.canParse(url)) return null;
  const scheme = new URL(url).protocol;
  if (tlsOn && scheme === 'ws:') return 'is ws:// but gossip.tls is set: peers listen with TLS, so dial them as wss:// (or set gossip.tls to null everywhere)';
  if (!tlsOn && scheme === 'wss:') return 'is wss:// but gossip.tls is null: set gossip.tls ({certFile, keyFile, caFile}) on every daemon, or dial ws://';
  return null;
}

/**
 * Which peer a gossip.peers URL names, as WHATWG URL serialises it: scheme and host lower-cased,
 * an IP address in its canonical form, a default port (80 for ws, 443 for wss) dropped, an empty
 * path as "/". Two entries with one key dial the same listener twice. Only for comparing: the URL
 * as written is what is dialled. Undefined for a URL that does not parse.
 */
export function peerKey(url: string): string | undefined {
  if (!URL.canParse(url)) return undefined;
  const u = new URL(url);
  u.hash = ''; // an empty fragment ("…/#"), the only one allowed: not part of what is dialled
  // An IPv4-mapped IPv6 address ([::ffff:127.0.0.1], serialised [::ffff:7f00:1]) is that IPv4 address.
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(u.hostname);
  if (mapped) {
    const [hi, lo] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
    u.hostname = [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
  }
  return u.href;
}

/**
 * Whether a gossip.peers URL is this daemon's own `gossip.listen` (it would dial itself and be
 * refused as SAME_NODE at every redial): the same address and port, or a loopback address at the
 * port of a wildcard listen (0.0.0.0, ::). A name is not resolved, so it is never caught here.
 */
function isOwnListen(url: string, listen: string | null): boolean {
  const hp = listen === null ? null : parseHostPort(listen);
  if (hp === null || hp.port === 0 || !URL.canParse(url)) return false;
  const u = new URL(peerKey(url)!);
  const port = Number(u.port || (u.protocol === 'wss:' ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (port !== hp.port) return false;
  const own = new URL(`ws://${formatHostPort(hp.host, hp.port)}`).hostname.replace(/^\[|\]$/g, '');
  if (own === host) return true;
  const wildcard = own === '0.0.0.0' || own === '::';
  return wildcard && ((isIPv4(host) && loopback.check(host, 'ipv4')) || (isIPv6(host) && loopback.check(host, 'ipv6')));
}

function isWebSocketUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  // Credentials in a URL would end up in logs and `status`; membership is proven otherwise. A
  // fragment makes ws throw when the peer is dialled (RFC 6455 §3), at start or at a reload.
  return (url.protocol === 'ws:' || url.protocol === 'wss:') && url.hostname !== '' && url.username === '' && url.password === '' && url.hash === '';
}

/** The production paths (SPEC §11) vpc-peerctl also falls back on. */
export const DEFAULT_SOCKET_PATH = '/run/vpc-peerd/vpc-peerd.sock';
export const DEFAULT_ADMIN_TOKEN_FILE = '/run/vpc-peerd/admin.token';
/** The JWS `kid` of the operator tokens the daemon writes to auth.adminTokenFile (the CLI tells them from platform tokens by it). */
export const OPERATOR_TOKEN_KID = 'vpc-peerd-operator';

const socket = section({
  path: path('must be a path')
    .default(DEFAULT_SOCKET_PATH)
    .describe('Unix socket the JSON-RPC API listens on. At most 107 bytes once resolved (the kernel\'s limit).'),
  mode: matching(MODE_PATTERN, 'must be an octal string like "0660"', 'octal string')
    .default('0660')
    .describe('Permission bits of the socket file, in octal: who may connect.'),
  group: matching(GROUP_PATTERN, 'must be a group name or numeric id, or null')
    .nullable()
    .default(null)
    .describe('Group that owns the socket file (name or numeric id); null leaves the daemon\'s own group.'),
  maxLineBytes: int(1024, 64 * MiB)
    .default(MiB)
    .describe('Longest request line accepted, in bytes; a longer one gets error -32600 and the connection is closed.'),
  maxBatchSize: int(1, 10_000)
    .default(100)
    .describe('Most requests in one JSON-RPC batch; a larger batch gets error -32600 (BATCH_TOO_LARGE).'),
  maxConnections: int(1, 65_536)
    .default(256)
    .describe('Most client connections served at once; more are refused until one closes.'),
  reservedConnections: int(0, 1024)
    .default(8)
    .describe('Of maxConnections, how many only logged-in connections may hold: once the others are all taken, a new connection gets one of these and must begin with a successful auth.login (else it is closed); when these are taken too, the oldest that has not logged in yet makes room.'),
  idleTimeoutMs: int(100, DAY_SECONDS * 1000)
    .default(60_000)
    .describe('A connection that sends nothing and has no call running for this long, in ms, is closed (IDLE_TIMEOUT).'),
  lineTimeoutMs: int(100, 3_600_000)
    .default(10_000)
    .describe('Time from the first byte of a line to its newline, in ms; a line still incomplete then closes the connection (LINE_TIMEOUT).'),
  maxBufferedBytes: int(1024, 4096 * MiB)
    .default(64 * MiB)
    .describe('Most bytes of incomplete lines held across all connections; a connection whose input would pass it is closed (UNAVAILABLE). At least maxLineBytes.'),
}).superRefine((s, ctx) => {
  if (s.reservedConnections >= s.maxConnections) {
    ctx.addIssue({ code: 'custom', path: ['reservedConnections'], message: 'must be less than maxConnections' });
  }
  if (s.maxBufferedBytes < s.maxLineBytes) {
    ctx.addIssue({ code: 'custom', path: ['maxBufferedBytes'], message: 'must be at least maxLineBytes' });
  }
});

const store = section({
  path: path('must be a path')
    .default('/var/lib/vpc-peerd/state.json')
    .describe('The state journal. Its folder must be writable by the daemon.'),
  compactAfterBytes: int(1024, 1024 * MiB)
    .default(4 * MiB)
    .describe('Journal growth since the last snapshot, in bytes, after which the journal is compacted into a new snapshot.'),
});

const ovs = section({
  enabled: z
    .union([z.boolean(), z.literal('auto')], { error: 'must be true, false or "auto"' })
    .default('auto')
    .describe('true: program Open vSwitch (while it is down the daemon reports it unavailable and repairs everything when it returns); false: no data plane (no-op mode); "auto": like true when an OVS answers, no-op mode otherwise.'),
  rundir: path('must be a path')
    .default('/var/run/openvswitch')
    .describe('Folder of the OVS control sockets, passed to ovs-vsctl and ovs-ofctl as OVS_RUNDIR (so a private OVS instance works).'),
  cookie: matching(COOKIE_PATTERN, COOKIE_ERROR, 'hex string')
    // Zero would make our cookie mask select the flows of OVS itself and of other controllers.
    .refine((hex) => Number.parseInt(hex, 16) !== 0, { error: COOKIE_ERROR })
    .default('0x5ee0')
    .describe('Top 16 bits of the cookie of every flow the daemon installs; it never touches a flow without them. Give each controller sharing an OVS its own.'),
  reconcileIntervalMs: int(10, DAY_SECONDS * 1000)
    .default(5000)
    .describe(
      'Period of the backstop, in ms: each local bridge is read with `ovs-ofctl dump-flows`, diffed and repaired once per interval, the reads spread evenly over it; ' +
        'and of the pass over everything (topology, desired flows, ports) from the channels’ tables. State changes also trigger a pass at once.',
    ),
});

const peering = section({
  pendingTtlSeconds: int(1, YEAR_SECONDS)
    .default(7 * DAY_SECONDS)
    .describe('A pending-acceptance request not answered within this many seconds becomes expired.'),
  terminalRetentionSeconds: int(0, YEAR_SECONDS)
    .default(DAY_SECONDS)
    .describe('How long rejected, deleted, expired and failed peerings stay visible before they are compacted away, in seconds.'),
  maxActivePerVpc: int(1, 1000)
    .default(125)
    .describe('Most active peerings one VPC may have; one more is refused with LIMIT_EXCEEDED.'),
  sweepIntervalMs: int(10, 3_600_000)
    .default(10_000)
    .describe('How often pending requests are expired and old terminal records compacted away, in ms; it bounds how late either happens.'),
});

const auth = section({
  jwtSecretFile: path('must be a path or null')
    .nullable()
    .default(null)
    .describe('File holding the platform\'s shared HS256 secret: at least 32 bytes, one trailing newline ignored. null: no HS256 tokens.'),
  jwtPublicKeyFile: path('must be a path or null')
    .nullable()
    .default(null)
    .describe('PEM public key (SPKI) of the platform\'s token signer: Ed25519 (EdDSA) or P-256 (ES256). null: none. With both keys null, only the operator token is accepted.'),
  adminTokenFile: path('must be a path')
    .default(DEFAULT_ADMIN_TOKEN_FILE)
    .describe('Where the daemon writes a fresh operator token (tenant *, permission *) at each start, mode 0600; vpc-peerctl uses it by default. Tokens of an earlier start stop working.'),
  adminTokenTtlSeconds: int(1, YEAR_SECONDS)
    .default(30 * DAY_SECONDS)
    .describe('Lifetime of the operator token written at start, in seconds. At most maxTokenLifetimeSeconds.'),
  maxTokenLifetimeSeconds: int(60, YEAR_SECONDS)
    .default(30 * DAY_SECONDS)
    .describe('Longest lifetime a token may claim: one whose exp lies further than this past its iat (or past now) is refused (TOKEN_INVALID), in seconds.'),
  clockSkewSeconds: int(0, 600)
    .default(30)
    .describe('Allowed difference between the token signer\'s clock and this host\'s, in seconds: for exp, nbf and iat (an iat further ahead is refused).'),
}).superRefine((a, ctx) => {
  if (a.adminTokenTtlSeconds > a.maxTokenLifetimeSeconds) {
    ctx.addIssue({ code: 'custom', path: ['adminTokenTtlSeconds'], message: 'must be at most maxTokenLifetimeSeconds' });
  }
});

const tls = section({
  certFile: path('must be a path').describe('PEM certificate this daemon presents to its peers.'),
  keyFile: path('must be a path').describe('PEM private key of certFile.'),
  caFile: path('must be a path').describe('PEM CA certificates that the peers\' certificates must chain to.'),
});

/**
 * Whether a gossip section asks for replication (SPEC §11: `listen` set, or any peer), for a
 * parsed section or a loaded Config alike.
 */
export function isGossipOn(g: { readonly listen: unknown; readonly peers: readonly string[] }): boolean {
  return g.listen !== null || g.peers.length > 0;
}

const gossip = section({
  listen: z
    .string({ error: LISTEN_ERROR })
    .refine((text) => parseHostPort(text) !== null, { error: LISTEN_ERROR })
    .nullable()
    .default(null)
    .describe('"host:port" to accept gossip connections on (IPv6 as "[::1]:7946"; port 0 picks a free port), or null not to listen.'),
  peers: z
    .array(
      z.string({ error: 'must be a ws:// or wss:// URL' }).refine(isWebSocketUrl, { error: 'must be a ws:// or wss:// URL without credentials or #fragment' }),
      { error: 'must be an array of ws:// or wss:// URLs' },
    )
    .max(MAX_GOSSIP_PEERS, { error: `must list at most ${MAX_GOSSIP_PEERS} peers` })
    .default([])
    .describe('WebSocket URLs of the other daemons to connect to: wss:// when gossip.tls is set, ws:// when it is null. Each peer once: two spellings of one URL (case, a trailing /, the default port) are refused as a duplicate.'),
  secretFile: path('must be a path or null')
    .nullable()
    .default(null)
    .describe('File holding the shared HMAC key that authenticates peers and their messages, or null.'),
  tls: tls
    .nullable()
    .default(null)
    .describe('Mutual TLS between daemons, on top of the HMAC of secretFile (which gossip always needs), or null for none.'),
  antiEntropyIntervalMs: int(100, 600_000)
    .default(2000)
    .describe('How often, in ms, a link\'s dialling side opens an anti-entropy round (digest comparison; docs/GOSSIP.md), besides the one on connect.'),
  tombstoneRetentionSeconds: int(60, YEAR_SECONDS)
    .default(7 * DAY_SECONDS)
    .describe('How long a deletion is remembered (its tombstone), in seconds: the longest a host may be cut off and still merge; a host away longer must resync from its peers (docs/GOSSIP.md).'),
}).superRefine((g, ctx) => {
  // Membership is proven by the HMAC handshake under the shared key (SPEC §8, §11); TLS only adds to it.
  if (isGossipOn(g) && g.secretFile === null) {
    ctx.addIssue({ code: 'custom', path: ['secretFile'], message: 'gossip (listen or peers) needs secretFile (the shared HMAC key; tls only adds to it)' });
  }
  // With tls the listener speaks only TLS and without it only plain WebSocket: one scheme for all.
  // A peer listed twice, however spelled, would be dialled twice: the later entry is the one named.
  const seen = new Map<string, number>();
  g.peers.forEach((url, i) => {
    const problem = peerSchemeProblem(url, g.tls !== null);
    if (problem) ctx.addIssue({ code: 'custom', path: ['peers', i], message: problem });
    if (isOwnListen(url, g.listen)) ctx.addIssue({ code: 'custom', path: ['peers', i], message: `is this daemon's own gossip.listen (${JSON.stringify(g.listen)}): list the other hosts only` });
    const key = peerKey(url);
    if (key === undefined) return;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else ctx.addIssue({ code: 'custom', path: ['peers', i], message: `is the same peer as gossip.peers[${first}] (${JSON.stringify(g.peers[first])}; both are ${key}): list each peer once` });
  });
});

/** 127.0.0.0/8 and ::1, in any spelling. */
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

function isLoopbackListen(text: string): boolean {
  const hp = parseHostPort(text);
  if (hp === null) return false;
  // A name is refused too: what it resolves to is not known when the file is checked.
  if (isIPv4(hp.host)) return loopback.check(hp.host, 'ipv4');
  return isIPv6(hp.host) && loopback.check(hp.host, 'ipv6');
}

const metrics = section({
  listen: z
    .string({ error: METRICS_LISTEN_ERROR })
    .refine(isLoopbackListen, { error: METRICS_LISTEN_ERROR })
    .nullable()
    .default(null)
    .describe('"address:port" of the Prometheus text endpoint (GET /metrics), loopback only (it has no authentication), e.g. "127.0.0.1:9464"; port 0 picks a free port. null: no endpoint (the `metrics` RPC method still answers).'),
});

const log = section({
  level: z
    .enum(LogLevels, { error: `must be one of ${LogLevels.join(', ')}` })
    .default('info')
    .describe('Least severe level written to the log.'),
});

/** The whole file. Sections are optional (`prefault({})` fills in their defaults). */
export const ConfigSchema = z.strictObject(
  {
    nodeId: matching(NODE_ID_PATTERN, 'must be 1 to 64 of A-Z a-z 0-9 . _ -')
      .optional()
      .meta({
        description: 'Name of this daemon in gossip, logs and status; unique among the daemons that gossip together.',
        defaultText: 'the host name, other characters replaced by -',
      }),
    socket: socket.prefault({}).describe('The JSON-RPC API\'s Unix socket.'),
    store: store.prefault({}).describe('The durable state (VPCs and peerings).'),
    ovs: ovs.prefault({}).describe('The Open vSwitch data plane.'),
    peering: peering.prefault({}).describe('Peering lifecycle limits and timers.'),
    auth: auth.prefault({}).describe('Token verification (platform JWTs) and the local operator token.'),
    gossip: gossip.prefault({}).describe('Replication to the daemons of the other hypervisors.'),
    metrics: metrics.prefault({}).describe('Metrics for Prometheus.'),
    log: log.prefault({}).describe('Logging (JSON lines on stdout).'),
  },
  { error: 'must be a JSON object' },
);

/** The file as validated, defaults applied, before paths and numbers are resolved. */
export type ConfigFile = z.output<typeof ConfigSchema>;

/**
 * The configuration the daemon runs with: every key present (defaults applied), paths absolute,
 * `socket.mode` and `ovs.cookie` as numbers, `gossip.listen` split into host and port.
 */
export interface Config {
  readonly nodeId: string;
  readonly socket: {
    readonly path: string;
    /** Permission bits, e.g. 0o660. */
    readonly mode: number;
    readonly group: string | null;
    readonly maxLineBytes: number;
    readonly maxBatchSize: number;
    readonly maxConnections: number;
    readonly reservedConnections: number;
    readonly idleTimeoutMs: number;
    readonly lineTimeoutMs: number;
    readonly maxBufferedBytes: number;
  };
  readonly store: { readonly path: string; readonly compactAfterBytes: number };
  readonly ovs: {
    readonly enabled: boolean | 'auto';
    readonly rundir: string;
    /** The 16-bit prefix, e.g. 0x5ee0; flows carry it in the top 16 bits of their 64-bit cookie. */
    readonly cookie: number;
    readonly reconcileIntervalMs: number;
  };
  readonly peering: {
    readonly pendingTtlSeconds: number;
    readonly terminalRetentionSeconds: number;
    readonly maxActivePerVpc: number;
    readonly sweepIntervalMs: number;
  };
  readonly auth: {
    readonly jwtSecretFile: string | null;
    readonly jwtPublicKeyFile: string | null;
    readonly adminTokenFile: string;
    readonly adminTokenTtlSeconds: number;
    readonly maxTokenLifetimeSeconds: number;
    readonly clockSkewSeconds: number;
  };
  readonly gossip: {
    readonly listen: { readonly host: string; readonly port: number } | null;
    readonly peers: readonly string[];
    readonly secretFile: string | null;
    readonly tls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string } | null;
    /** ms between anti-entropy rounds a link's dialler opens (SPEC §8). */
    readonly antiEntropyIntervalMs: number;
    readonly tombstoneRetentionSeconds: number;
  };
  readonly metrics: { readonly listen: { readonly host: string; readonly port: number } | null };
  readonly log: { readonly level: LogLevel };
}
