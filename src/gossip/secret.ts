// Reads the shared gossip secret (SPEC §11 gossip.secretFile) at start: a misconfiguration is
// refused at once with the key and the reason, before any link exists.
import { readFile, stat } from 'node:fs/promises';
import { ConfigError } from '../config/config-error.js';
import { MIN_SECRET_BYTES } from './handshake.js';

/**
 * The secret's bytes, trailing whitespace dropped (a file written by `openssl rand -hex 32 >`
 * ends with a newline). Throws ConfigError (key `gossip.secretFile`) when the file is missing,
 * not a regular file, readable or writable by group or others, or shorter than MIN_SECRET_BYTES.
 */
export async function loadGossipSecret(path: string): Promise<Buffer> {
  const fail = (reason: string): ConfigError => new ConfigError([{ key: 'gossip.secretFile', reason: `${path}: ${reason}` }]);
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw fail(`cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!info.isFile()) throw fail('is not a regular file');
  if ((info.mode & 0o077) !== 0) throw fail(`has mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}; the shared secret must be readable by its owner only (chmod 600)`);
  const text = (await readFile(path)).toString('latin1').replace(/\s+$/, '');
  const secret = Buffer.from(text, 'latin1');
  if (secret.length < MIN_SECRET_BYTES) throw fail(`holds ${secret.length} bytes; at least ${MIN_SECRET_BYTES} are required (e.g. openssl rand -hex 32)`);
  return secret;
}
