// Reads and checks the configuration file and turns it into the Config the daemon runs with.
// Every problem is reported at once, each with its key path, as one ConfigError.
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from './config-error.js';
import { ConfigSchema, parseHostPort, type Config, type ConfigFile } from './schema.js';

/** A config file is a few kilobytes; anything this big is a mistake, not a config. */
/** The largest config file read (daemon and vpc-peerctl alike). */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;
/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
const MAX_PREVIEW_CHARS = 60;

/** Why a config file's JSON could not be had: `read` (missing, unreadable, too large) or `json`. */
export class ConfigReadError extends Error {
  override readonly name = 'ConfigReadError';
  constructor(
    readonly kind: 'read' | 'json',
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * The JSON of the config file at `path`, unchecked (the daemon's loader and vpc-peerctl, which
 * reads only its paths, both start here). At most MAX_CONFIG_FILE_BYTES; a byte-order mark is
 * allowed. Throws ConfigReadError.
 */
export async function readConfigJson(path: string): Promise<unknown> {
  let text: string;
  try {
    if ((await stat(path)).size > MAX_CONFIG_FILE_BYTES) {
      throw new Error(`larger than ${MAX_CONFIG_FILE_BYTES} bytes`);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigReadError('read', err);
  }
  try {
    // Editors on some systems save a byte-order mark, which JSON.parse refuses.
    return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (err) {
    throw new ConfigReadError('json', err);
  }
}

/** Reads, checks and resolves the file at `path`; refuses a bad one with a ConfigError. */
export async function loadConfig(path: string): Promise<Config> {
  let json: unknown;
  try {
    json = await readConfigJson(path);
  } catch (err) {
    if (!(err instanceof ConfigReadError)) throw err;
    const reason = err.kind === 'read' ? `cannot read the file: ${err.message}` : `not valid JSON: ${err.message}`;
    throw new ConfigError([{ key: '', reason }], path);
  }
  return parseConfig(json, dirname(resolve(path)), path);
}

/**
 * Checks `json` against the schema, applies defaults and resolves relative paths against
 * `baseDir` (the config file's folder). `source` names the file in error messages.
 */
export function parseConfig(json: unknown, baseDir: string, source = ''): Config {
  const parsed = ConfigSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(toIssues(parsed.error, json), source);
  const config = resolveConfig(parsed.data, baseDir);
  if (Buffer.byteLength(config.socket.path) > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(
      [{ key: 'socket.path', reason: `must be at most ${MAX_SOCKET_PATH_BYTES} bytes once resolved (got ${preview(config.socket.path)})` }],
      source,
    );
  }
  return config;
}

function resolveConfig(file: ConfigFile, baseDir: string): Config {
  const abs = (p: string): string => resolve(baseDir, p);
  const absOrNull = (p: string | null): string | null => (p === null ? null : abs(p));
  const { socket, store, ovs, peering, auth, gossip, metrics, log } = file;
  return {
    nodeId: file.nodeId ?? nodeIdFromHostname(hostname()),
    socket: { ...socket, path: abs(socket.path), mode: Number.parseInt(socket.mode, 8) },
    store: { ...store, path: abs(store.path) },
    ovs: { ...ovs, rundir: abs(ovs.rundir), cookie: Number.parseInt(ovs.cookie, 16) },
    peering: { ...peering },
    auth: {
      ...auth,
      jwtSecretFile: absOrNull(auth.jwtSecretFile),
      jwtPublicKeyFile: absOrNull(auth.jwtPublicKeyFile),
      adminTokenFile: abs(auth.adminTokenFile),
    },
    gossip: {
      // The schema has checked the text, so parseHostPort cannot return null here.
      listen: gossip.listen === null ? null : parseHostPort(gossip.listen),
      peers: [...gossip.peers],
      secretFile: absOrNull(gossip.secretFile),
      tls:
        gossip.tls === null
          ? null
          : { certFile: abs(gossip.tls.certFile), keyFile: abs(gossip.tls.keyFile), caFile: abs(gossip.tls.caFile) },
      antiEntropyIntervalMs: gossip.antiEntropyIntervalMs,
      tombstoneRetentionSeconds: gossip.tombstoneRetentionSeconds,
    },
    metrics: { listen: metrics.listen === null ? null : parseHostPort(metrics.listen) },
    log: { ...log },
  };
}

/** The default nodeId: the host name, made to fit NODE_ID_PATTERN. */
export function nodeIdFromHostname(name: string): string {
  const id = name.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
  return id === '' ? 'node' : id;
}

function toIssues(error: z.ZodError, json: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ key: keyPath([...issue.path, key]), reason: 'unknown key (a typo?)' });
      continue;
    }
    const value = valueAt(json, issue.path);
    const reason =
      value === undefined
        ? issue.code === 'invalid_type' ? 'is required' : issue.message
        : `${issue.message} (got ${preview(value)})`;
    issues.push({ key: keyPath(issue.path), reason });
  }
  return issues;
}

/** `['gossip', 'peers', 0]` → `gossip.peers[0]`. */
function keyPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

function valueAt(json: unknown, path: readonly PropertyKey[]): unknown {
  let value = json;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_PREVIEW_CHARS ? `${text.slice(0, MAX_PREVIEW_CHARS)}…` : text;
}
