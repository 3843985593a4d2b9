// Starts the real daemon process (dist/src/main.js, built by `npm test`) on a temporary folder
// and drives it over its socket. Every daemon started here is killed by its pid when the test
// ends, pass or fail. inProcessDaemon() builds the same daemon inside the test's process instead
// (createDaemon(...).ready()), to call its methods through the dispatcher; closed at teardown.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import { connectClient, type RpcClient } from '../../src/rpc/client.js';
import type { ConnectionState } from '../../src/rpc/method.js';

// From test/helpers (tap runs the .ts) the build is in ../../dist; compiled for the benchmarks
// (dist/test/helpers) this file is inside that build already.
const BUILD = new URL(import.meta.url.includes('/dist/test/helpers/') ? '../../' : '../../dist/', import.meta.url);
export const MAIN = new URL('src/main.js', BUILD).pathname;
export const CTL = new URL('src/cli/main.js', BUILD).pathname;

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface DaemonHandle {
  readonly dir: string;
  readonly configPath: string;
  readonly socketPath: string;
  readonly adminToken: () => string;
  readonly secret: Uint8Array;
  readonly logs: () => string;
  child: ChildProcess;
  /** Signs a platform token with the daemon's HS256 secret. */
  token(claims: TokenClaims): Promise<string>;
  /** A client already logged in as the operator. */
  admin(): Promise<RpcClient>;
  client(): Promise<RpcClient>;
  /** Starts the process again on the same folder (after a kill), with extra arguments if given. */
  restart(args?: string[]): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface DaemonOptions {
  config?: Record<string, unknown>;
  dir?: string;
  /** Added to the daemon's environment (NOTIFY_SOCKET, WATCHDOG_USEC, PATH...). */
  env?: Record<string, string>;
}

const START_TIMEOUT_MS = 15_000;

/**
 * A test daemon's folder: a fresh temp dir (or `dir`) with a random HS256 secret and a config file
 * (no-op mode, socket, store and token inside the folder) with `config`'s sections over it.
 */
function prepareFolder(opts: DaemonOptions): { dir: string; secret: Buffer; configPath: string; config: Record<string, unknown> } {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'vpc-peerd-test-'));
  // The daemon drops a final newline byte (0x0a) of the file, which random bytes end in 1 time in
  // 256: the tokens signed here with all the bytes were then refused (TOKEN_INVALID), so the last
  // byte is never a newline.
  const secret = randomBytes(48);
  if (secret[secret.length - 1] === 0x0a) secret[secret.length - 1] = 0x0b;
  writeFileSync(join(dir, 'jwt.secret'), secret, { mode: 0o600 });
  const config = {
    nodeId: 'test-node',
    socket: { path: './vpc-peerd.sock' },
    store: { path: './state.json' },
    ovs: { enabled: false },
    auth: { jwtSecretFile: './jwt.secret', adminTokenFile: './admin.token' },
    log: { level: 'debug' },
    ...opts.config,
  };
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return { dir, secret, configPath, config };
}

/** The claims of a test platform token: `sub` defaults to user-1, the lifetime to 600 s. */
export interface TokenClaims {
  sub?: string;
  tenant: string;
  perms: string[];
  expSeconds?: number;
}

/** A platform token (HS256, SPEC §4) signed with a test daemon's secret. */
function signToken(secret: Uint8Array, { sub = 'user-1', tenant, perms, expSeconds = 600 }: TokenClaims): Promise<string> {
  return new SignJWT({ tenant, perms })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
    .sign(secret);
}

export async function startDaemon(t: Teardown, opts: DaemonOptions = {}): Promise<DaemonHandle> {
  const { dir, secret, configPath } = prepareFolder(opts);
  const clients: RpcClient[] = [];
  let out = '';

  const launch = async (args: string[] = []): Promise<ChildProcess> => {
    const from = out.length; // a restart must see its own "listening", not the last run's
    const child = spawn(process.execPath, [MAIN, '--config', configPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`daemon did not start in ${START_TIMEOUT_MS} ms:\n${out}`)), START_TIMEOUT_MS);
      const onData = (): void => {
        if (out.includes('"msg":"listening"', from)) {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`daemon exited (${code}) before listening:\n${out}`));
      });
    });
    return child;
  };

  const handle: DaemonHandle = {
    dir,
    configPath,
    socketPath: join(dir, 'vpc-peerd.sock'),
    adminToken: () => readFileSync(join(dir, 'admin.token'), 'utf8').trim(),
    secret,
    logs: () => out,
    child: await launch(),
    token: (claims) => signToken(secret, claims),
    async client() {
      const c = await connectClient(handle.socketPath, { timeoutMs: 10_000 });
      clients.push(c);
      return c;
    },
    async admin() {
      const c = await handle.client();
      await c.call('auth.login', { token: handle.adminToken() });
      return c;
    },
    async restart(args) {
      handle.child = await launch(args);
    },
    kill: (signal = 'SIGKILL') => stop(handle.child, signal),
  };

  t.teardown(async () => {
    for (const c of clients) c.close();
    await stop(handle.child, 'SIGKILL');
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  });
  return handle;
}

/**
 * The port a daemon's gossip listener bound, from status.gossip.listen ("host:port") asked over
 * `rpc` (an operator client). Throws when the daemon does not listen for gossip.
 */
export async function gossipPortOf(rpc: RpcClient): Promise<{ listen: string; port: number }> {
  const { gossip } = (await rpc.call('status', {})) as { gossip: { listen: string | null } };
  const port = Number(/:(\d+)$/.exec(gossip.listen ?? '')?.[1]);
  if (gossip.listen === null || !Number.isInteger(port) || port <= 0) throw new Error(`status.gossip.listen is ${JSON.stringify(gossip.listen)}, not a bound host:port`);
  return { listen: gossip.listen, port };
}

/** A daemon started by startGossipDaemon, with the port its gossip listener bound. */
export interface GossipDaemonHandle extends DaemonHandle {
  readonly gossipPort: number;
}

/**
 * startDaemon with `gossip.listen` 127.0.0.1:0 (`opts.config.gossip` must not set `listen`): the
 * daemon binds a free port itself, read back from its status and written into its config file so
 * that restart() listens there again (a forwarder or peer set to it still reaches it). A port
 * chosen by the test and bound later by the daemon could be taken in between by another process
 * (seen: EADDRINUSE, the daemon exited). A restart re-binds a port that was free a moment before:
 * the window left is that one.
 */
export async function startGossipDaemon(t: Teardown, opts: DaemonOptions = {}): Promise<GossipDaemonHandle> {
  const gossip = (opts.config?.gossip ?? {}) as Record<string, unknown>;
  if ('listen' in gossip) throw new Error(`startGossipDaemon picks gossip.listen itself; got ${JSON.stringify(gossip.listen)}`);
  const handle = await startDaemon(t, { ...opts, config: { ...opts.config, gossip: { ...gossip, listen: '127.0.0.1:0' } } });
  const rpc = await handle.admin();
  const { listen, port } = await gossipPortOf(rpc);
  await rpc.close();
  const config = JSON.parse(readFileSync(handle.configPath, 'utf8')) as { gossip: Record<string, unknown> };
  writeFileSync(handle.configPath, JSON.stringify({ ...config, gossip: { ...config.gossip, listen } }, null, 2));
  // The same object (restart() replaces its `child`), with the port on it.
  return Object.assign(handle, { gossipPort: port });
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}

/** Runs the daemon to its exit (for a start that is expected to be refused); kills it after 15 s. */
export function runDaemon(configPath: string, args: string[] = []): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, '--config', configPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the daemon did not exit:\n${output}`));
    }, 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Runs vpc-peerctl as a separate process; resolves with its exit code and output. */
export function runCtl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CTL, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export function exists(path: string): boolean {
  return existsSync(path);
}

/**
 * The config of an in-process test daemon on a fresh folder (as startDaemon's), for a test that
 * builds its own createDaemon; the folder is removed at teardown (close the daemon before).
 */
export function inProcessConfig(t: Teardown, opts: DaemonOptions = {}): { dir: string; config: Config } {
  const { dir, config } = prepareFolder(opts);
  if (!opts.dir) t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, config: parseConfig(config, dir) };
}

export interface InProcessDaemon {
  readonly daemon: Daemon;
  readonly dir: string;
  readonly socketPath: string;
  readonly adminToken: () => string;
  /** Signs a platform token with the daemon's HS256 secret (for `params.auth` or auth.login). */
  token(claims: TokenClaims): Promise<string>;
  /** A new connection's state for dispatcher calls (not logged in). */
  connection(): ConnectionState;
  /** One JSON-RPC call through the dispatcher on `conn` (default: a connection logged in as the operator); the parsed reply. */
  call(method: string, params?: unknown, conn?: ConnectionState): Promise<RpcReply>;
}

/** A JSON-RPC reply as the dispatcher wrote it. */
export interface RpcReply {
  readonly result?: unknown;
  readonly error?: { readonly code: number; readonly message: string; readonly data?: { readonly reason?: string } };
}

/**
 * A daemon built in this process on a temporary folder (the same config as startDaemon), ready()
 * but not listening: call `daemon.listen()` for a socket. Closed, then its folder removed, at teardown.
 */
export async function inProcessDaemon(t: Teardown, opts: DaemonOptions = {}): Promise<InProcessDaemon> {
  const { dir, secret, config } = prepareFolder(opts);
  const daemon = createDaemon(parseConfig(config, dir), { logger: silentLogger() });
  t.teardown(async () => {
    await daemon.close();
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  });
  await daemon.ready();
  let connections = 0;
  const connection = (): ConnectionState => ({ principal: null, id: ++connections });
  const adminToken = (): string => readFileSync(join(dir, 'admin.token'), 'utf8').trim();
  const login = async (): Promise<ConnectionState> => {
    const conn = connection();
    await call('auth.login', { token: adminToken() }, conn);
    return conn;
  };
  let admin: Promise<ConnectionState> | null = null;
  const call = async (method: string, params?: unknown, conn?: ConnectionState): Promise<RpcReply> => {
    const on = conn ?? (await (admin ??= login()));
    const line = JSON.stringify({ jsonrpc: '2.0', id: 1, method, ...(params === undefined ? {} : { params }) });
    return JSON.parse((await daemon.dispatcher().handleLine(line, on)) ?? 'null') as RpcReply;
  };
  return { daemon, dir, socketPath: join(dir, 'vpc-peerd.sock'), adminToken, token: (claims) => signToken(secret, claims), connection, call };
}
