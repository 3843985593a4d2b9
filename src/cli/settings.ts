// Where vpc-peerctl finds the daemon and its token: flags, then the daemon's config file (only
// its socket.path and auth.adminTokenFile), then the environment, then the
// production defaults of SPEC §11.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigReadError, readConfigJson } from '../config/load.js';
import { DEFAULT_ADMIN_TOKEN_FILE, DEFAULT_SOCKET_PATH } from '../config/schema.js';
import type { GlobalOptions } from './commands.js';

export const DEFAULT_SOCKET = DEFAULT_SOCKET_PATH;
const DEFAULT_TOKEN_FILE = DEFAULT_ADMIN_TOKEN_FILE;

/** A failure to prepare the call (unreadable config or token file): a local problem, exit 3. */
export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SetupError';
  }
}

/** Where the socket path came from, for the hint when nothing answers there. */
export type SocketSource = 'flag' | 'config' | 'env' | 'default';

export interface Settings {
  readonly socketPath: string;
  readonly socketSource: SocketSource;
  readonly token: string | undefined;
  /** The file the token was read from; undefined when it came from --token or no file gave one. */
  readonly tokenFile: string | undefined;
  /** Why the default token file gave no token; shown if the daemon then asks for one. */
  readonly tokenNote: string | undefined;
  /**
   * The file to read the token from again when the daemon refuses it (it rewrites
   * auth.adminTokenFile at each start): --token-file, or the config's or default file, also when
   * it could not be read at first. Undefined for --token.
   */
  readonly tokenSource: string | undefined;
}

interface ConfigPaths {
  readonly socketPath?: string;
  readonly adminTokenFile?: string;
}

export async function resolveSettings(globals: GlobalOptions, env: Readonly<Record<string, string | undefined>>): Promise<Settings> {
  const config = globals.config === undefined ? {} : await readConfigPaths(globals.config);
  const envSocket = nonEmpty(env.VPC_PEERCTL_SOCKET);
  const [socketPath, socketSource]: [string, SocketSource] =
    globals.socket !== undefined ? [globals.socket, 'flag']
    : config.socketPath !== undefined ? [config.socketPath, 'config']
    : envSocket !== undefined ? [envSocket, 'env']
    : [DEFAULT_SOCKET, 'default'];
  const socket = { socketPath, socketSource };

  if (globals.token !== undefined) return { ...socket, token: globals.token, tokenFile: undefined, tokenNote: undefined, tokenSource: undefined };
  if (globals.tokenFile !== undefined) {
    try {
      return { ...socket, token: await readToken(globals.tokenFile), tokenFile: globals.tokenFile, tokenNote: undefined, tokenSource: globals.tokenFile };
    } catch (err) {
      throw new SetupError(`cannot read token file ${globals.tokenFile}: ${messageOf(err)}`);
    }
  }
  return { ...socket, ...(await implicitToken(config.adminTokenFile ?? DEFAULT_TOKEN_FILE)) };
}

/**
 * The settings with the token read again from `tokenSource` (a restarted daemon wrote a new
 * one); the same settings for --token. A file unreadable now leaves no token and a tokenNote.
 */
export async function rereadToken(settings: Settings): Promise<Settings> {
  return settings.tokenSource === undefined ? settings : { ...settings, ...(await implicitToken(settings.tokenSource)) };
}

/** The implicit token file is optional: a method that needs no token (rpc.discover) still works. */
async function implicitToken(file: string): Promise<Pick<Settings, 'token' | 'tokenFile' | 'tokenNote' | 'tokenSource'>> {
  try {
    const token = await readToken(file);
    return { token, tokenFile: token === undefined ? undefined : file, tokenNote: token === undefined ? `token file ${file} is empty` : undefined, tokenSource: file };
  } catch (err) {
    return { token: undefined, tokenFile: undefined, tokenNote: `cannot read token file ${file}: ${messageOf(err)}`, tokenSource: file };
  }
}

async function readToken(file: string): Promise<string | undefined> {
  return nonEmpty((await readFile(file, 'utf8')).trim());
}

/**
 * The two keys vpc-peerctl needs, socket.path and auth.adminTokenFile, resolved against the
 * config file's folder as the daemon does. The rest of the file is not checked: a config the
 * daemon refused on SIGHUP (it keeps running on the old one) must not lock the operator out.
 * Throws SetupError if the file cannot be read, is not JSON, or either key is not a path.
 */
async function readConfigPaths(path: string): Promise<ConfigPaths> {
  let json: unknown;
  try {
    json = await readConfigJson(path);
  } catch (err) {
    if (!(err instanceof ConfigReadError)) throw err;
    throw new SetupError(`cannot read config ${path}: ${err.kind === 'json' ? `not valid JSON: ${err.message}` : messageOf(err.cause)}`);
  }
  const base = dirname(resolve(path));
  const pick = (section: string, key: string, fallback: string): string => {
    const part = isObject(json) ? json[section] : undefined;
    const value = isObject(part) ? part[key] : undefined;
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || value === '' || value.includes('\0')) throw new SetupError(`cannot read config ${path}: ${section}.${key} must be a path`);
    return resolve(base, value);
  };
  return { socketPath: pick('socket', 'path', DEFAULT_SOCKET), adminTokenFile: pick('auth', 'adminTokenFile', DEFAULT_TOKEN_FILE) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
};

function messageOf(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  if (code !== undefined) return ERRNO_TEXT[code] ?? code;
  return err instanceof Error ? err.message : String(err);
}
