// Who is calling (SPEC §4): verifies the platform's JWTs into a Principal, and mints and writes
// the local operator token. Every verification pins one algorithm per key and requires `exp`;
// refusals are RpcErrors whose messages never contain the token.
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SignJWT, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { ConfigError } from '../config/config-error.js';
import { OPERATOR_TOKEN_KID } from '../config/schema.js';
import { OPERATOR_TENANT } from '../domain/rbac.js';
import { ID_PATTERN, type Principal } from '../domain/types.js';
import { RpcError } from '../errors.js';
import type { Logger } from '../log/logger.js';

/** HS256 is only as strong as its secret; jose itself accepts far shorter ones. */
export const MIN_SECRET_BYTES = 32;
/** A JWT of ours is a few hundred bytes; the cap keeps parsing cheap whatever a client sends. */
const MAX_TOKEN_CHARS = 8192;
/**
 * What a `sub` may be: ids, e-mail addresses, URNs and the like. No whitespace or control
 * characters, because the subject is written into logs and records (`statusReason`).
 */
const SUB_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@+=/|~-]{0,255}$/;
const MAX_PERMISSIONS = 64;
const PERMISSION_PATTERN = /^[A-Za-z0-9_:.*-]{1,128}$/;
/** Marks operator tokens, so verify() checks them against the in-memory key. */

export interface AuthenticatorOptions {
  /** Absolute paths, or null (config `auth.*`). */
  readonly jwtSecretFile: string | null;
  readonly jwtPublicKeyFile: string | null;
  readonly nodeId: string;
  /** The longest a token may be valid: `exp` at most this far past `iat` and past now (config `auth.maxTokenLifetimeSeconds`). */
  readonly maxTokenLifetimeSeconds: number;
  /** Allowed clock difference between the token's signer and this host (config `auth.clockSkewSeconds`). */
  readonly clockSkewSeconds: number;
  readonly logger: Logger;
  /** The clock tokens are checked against, in ms since the epoch. Default Date.now. */
  readonly now?: () => number;
}

export interface Authenticator {
  /**
   * The principal `token` proves. Rejects with RpcError UNAUTHENTICATED (no token),
   * TOKEN_EXPIRED, or TOKEN_INVALID (anything else wrong with it).
   */
  verify(token: unknown): Promise<Principal>;
  /** A fresh operator token (tenant `*`, permission `*`), accepted by this daemon until it restarts. */
  mintAdminToken(ttlSeconds: number): Promise<string>;
}

/** One accepted signer: its key and the one algorithm it may sign with. */
interface Signer {
  readonly key: KeyObject | Uint8Array;
  readonly algorithm: 'HS256' | 'EdDSA' | 'ES256';
}

/**
 * Reads the configured platform keys (a bad or short one is a ConfigError) and builds the
 * authenticator.
 *
 * The operator token is signed with a random HS256 key made here and held only in memory, marked
 * by its `kid` header and its issuer `vpc-peerd:<nodeId>`. So the daemon can mint it whatever the
 * platform uses (a public key gives it nothing to sign with), the key never touches the disk, and
 * a restart invalidates earlier operator tokens: that is intended, the token file is rewritten at
 * each start.
 */
export async function createAuthenticator(opts: AuthenticatorOptions): Promise<Authenticator> {
  const platform: Signer[] = [];
  if (opts.jwtSecretFile !== null) platform.push(await readSecret(opts.jwtSecretFile));
  if (opts.jwtPublicKeyFile !== null) platform.push(await readPublicKey(opts.jwtPublicKeyFile));
  const operator: Signer = { key: randomBytes(32), algorithm: 'HS256' };
  const operatorIssuer = `vpc-peerd:${opts.nodeId}`;
  const now = opts.now ?? Date.now;
  const limits: ClaimLimits = { maxLifetimeSeconds: opts.maxTokenLifetimeSeconds, skewSeconds: opts.clockSkewSeconds };

  if (platform.length === 0) {
    opts.logger.warn('no platform key configured (auth.jwtSecretFile, auth.jwtPublicKeyFile): only the operator token is accepted');
  } else {
    opts.logger.info('platform tokens accepted', { algorithms: platform.map((s) => s.algorithm) });
  }

  async function verify(token: unknown): Promise<Principal> {
    if (token === undefined || token === null || token === '') {
      throw new RpcError('UNAUTHENTICATED', 'This call needs a token: call auth.login first or pass params.auth.');
    }
    if (typeof token !== 'string') throw invalid('it is not a string');
    if (token.length > MAX_TOKEN_CHARS) throw invalid(`it is longer than ${MAX_TOKEN_CHARS} characters`);
    try {
      const header = decodeProtectedHeader(token);
      const isOperator = header.kid === OPERATOR_TOKEN_KID;
      const signer = isOperator ? operator : platform.find((s) => s.algorithm === header.alg);
      if (signer === undefined) {
        throw invalid(platform.length === 0
          ? 'it is not this daemon\'s operator token, and no platform key is configured here (auth.jwtSecretFile or auth.jwtPublicKeyFile)'
          : 'its signing algorithm is not accepted here');
      }
      const { payload } = await jwtVerify(token, signer.key, {
        algorithms: [signer.algorithm],
        requiredClaims: ['exp'],
        clockTolerance: opts.clockSkewSeconds,
        currentDate: new Date(now()),
        ...(isOperator ? { issuer: operatorIssuer } : {}),
      });
      return principalOf(payload, now() / 1000, limits);
    } catch (err) {
      const refusal = toRpcError(err);
      opts.logger.debug('token refused', { reason: refusal.reason, why: refusal.message });
      throw refusal;
    }
  }

  async function mintAdminToken(ttlSeconds: number): Promise<string> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new Error(`ttlSeconds must be a positive integer, got ${ttlSeconds}`);
    return new SignJWT({ tenant: OPERATOR_TENANT, perms: ['*'] })
      .setProtectedHeader({ alg: operator.algorithm, kid: OPERATOR_TOKEN_KID, typ: 'JWT' })
      .setSubject(`operator@${opts.nodeId}`)
      .setIssuer(operatorIssuer)
      .setIssuedAt(Math.floor(now() / 1000))
      .setExpirationTime(Math.floor(now() / 1000) + ttlSeconds)
      .sign(operator.key);
  }

  return { verify, mintAdminToken };
}

/**
 * Writes the operator token to `path` with mode 0600, atomically (temp file + rename), so a
 * reader never sees half a token and a file left by an earlier start with looser permissions is
 * replaced rather than reused. Creates the parent folder with mode 0700 when it is missing.
 */
export async function writeAdminToken(path: string, token: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    // 'wx' never follows a symlink planted at the temp name, nor reuses someone else's file.
    const file = await open(temp, 'wx', 0o600);
    try {
      // Creation mode is masked by the umask; set the bits explicitly.
      await file.chmod(0o600);
      await file.writeFile(token);
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

async function readSecret(path: string): Promise<Signer> {
  const raw = await readKeyFile('auth.jwtSecretFile', path);
  // Secrets written with echo or `openssl rand -hex` end in a newline that is not part of them.
  let end = raw.length;
  if (raw[end - 1] === 0x0a) end -= raw[end - 2] === 0x0d ? 2 : 1;
  const secret = raw.subarray(0, end);
  if (secret.length < MIN_SECRET_BYTES) {
    throw new ConfigError([
      { key: 'auth.jwtSecretFile', reason: `${path} holds ${secret.length} bytes; an HS256 secret needs at least ${MIN_SECRET_BYTES}` },
    ]);
  }
  return { key: new Uint8Array(secret), algorithm: 'HS256' };
}

async function readPublicKey(path: string): Promise<Signer> {
  const pem = (await readKeyFile('auth.jwtPublicKeyFile', path)).toString('utf8');
  const refuse = (reason: string): ConfigError => new ConfigError([{ key: 'auth.jwtPublicKeyFile', reason: `${path}: ${reason}` }]);
  // createPublicKey would also derive a public key from a private key or a certificate: a
  // private key in this file is a mistake worth stopping for.
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) throw refuse('must be a PEM public key (-----BEGIN PUBLIC KEY-----, SPKI)');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw refuse(`not a readable PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType === 'ed25519') return { key, algorithm: 'EdDSA' };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, algorithm: 'ES256' };
  throw refuse(`must be an Ed25519 (EdDSA) or P-256 (ES256) key, got ${key.asymmetricKeyType ?? 'an unknown type'}`);
}

async function readKeyFile(key: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new ConfigError([{ key, reason: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
}

interface ClaimLimits {
  readonly maxLifetimeSeconds: number;
  readonly skewSeconds: number;
}

/**
 * The claims of a verified token (signature and `exp` already checked by jose), checked for type,
 * shape and time: `sub` and `tenant` by pattern, `iat` not in the future, the lifetime bounded.
 * @param nowSeconds this host's clock, in seconds since the epoch.
 */
function principalOf(payload: JWTPayload, nowSeconds: number, limits: ClaimLimits): Principal {
  const { sub, tenant, perms, exp, iat } = payload;
  if (typeof sub !== 'string' || !SUB_PATTERN.test(sub)) {
    throw invalid('its "sub" claim must be 1 to 256 letters, digits and . _ : @ + = / | ~ -, starting with a letter or digit');
  }
  if (typeof tenant !== 'string' || (tenant !== OPERATOR_TENANT && !ID_PATTERN.test(tenant))) {
    throw invalid('its "tenant" claim must be a tenant id or "*"');
  }
  if (!Array.isArray(perms) || perms.length > MAX_PERMISSIONS || !perms.every((p) => typeof p === 'string' && PERMISSION_PATTERN.test(p))) {
    throw invalid(`its "perms" claim must be an array of at most ${MAX_PERMISSIONS} permissions`);
  }
  // jose has checked that exp is a number in the future and iat, when present, a number.
  const expSeconds = exp as number;
  if (iat !== undefined && iat > nowSeconds + limits.skewSeconds) throw invalid('its "iat" claim lies in the future');
  const issuedAt = Math.min(iat ?? nowSeconds, nowSeconds);
  if (expSeconds - issuedAt > limits.maxLifetimeSeconds + limits.skewSeconds) {
    throw invalid(`its lifetime ("exp" after "iat" or now) exceeds ${limits.maxLifetimeSeconds} s (auth.maxTokenLifetimeSeconds)`);
  }
  return { sub, tenant, permissions: perms as string[], expiresAt: (expSeconds + limits.skewSeconds) * 1000 };
}

function invalid(why: string): RpcError {
  return new RpcError('TOKEN_INVALID', `The token is not valid: ${why}.`);
}

/** jose's errors → our reasons. jose's own messages are not passed on: we word them ourselves. */
function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof errors.JWTExpired) return new RpcError('TOKEN_EXPIRED', 'The token has expired; get a fresh one.');
  if (err instanceof errors.JWTClaimValidationFailed) {
    return invalid(err.reason === 'missing' ? `its "${err.claim}" claim is missing` : `its "${err.claim}" claim is not satisfied`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('its signature does not verify');
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid('its signing algorithm is not accepted here');
  return invalid('it is not a well-formed JWT');
}
