import { generateKeyPairSync, type KeyObject, type KeyPairKeyObjectResult } from 'node:crypto';
import { chmod, readdir, readFile, stat } from 'node:fs/promises';
import t from 'tap';
import { SignJWT, type JWTPayload } from 'jose';
import { createAuthenticator, writeAdminToken, type Authenticator } from '../../../src/auth/authenticator.js';
import { ConfigError } from '../../../src/config/config-error.js';
import { RpcError, type Reason } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log/logger.js';

const SECRET = 'a-shared-platform-secret-of-at-least-32-bytes';
const LONG_SECRET = 'x'.repeat(64);
const claims = { sub: 'alice', tenant: 'acme', perms: ['vpc:read', 'vpc_peering:*'] };
const inOneHour = (): number => Math.floor(Date.now() / 1000) + 3600;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);
/** auth.maxTokenLifetimeSeconds and auth.clockSkewSeconds of these tests. */
const LIFETIME = 86_400;
const SKEW = 30;
const hmac = (secret: string): Uint8Array => new TextEncoder().encode(secret);
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

// Signing keys made with node:crypto (jose signs with KeyObjects too).
const newKeyPair = (alg: 'EdDSA' | 'ES256'): KeyPairKeyObjectResult =>
  alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
const platformKeys = { EdDSA: newKeyPair('EdDSA'), ES256: newKeyPair('ES256') };
const pem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString();

const fixtures = t.testdir({
  'jwt.secret': `${SECRET}\n`,
  'long.secret': LONG_SECRET,
  'ed25519.pem': pem(platformKeys.EdDSA.publicKey),
  'p256.pem': pem(platformKeys.ES256.publicKey),
  short: 'x'.repeat(31),
  'short-with-newline': `${'x'.repeat(31)}\n`,
  'exact-crlf': `${'x'.repeat(32)}\r\n`,
  'rsa.pem': pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey),
  'private.pem': generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  'garbage.pem': '-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n',
});

/** An authenticator with the given fixture files as its platform keys. */
function start(secretFile: string | null, publicKeyFile: string | null): Promise<Authenticator> {
  return createAuthenticator({
    jwtSecretFile: secretFile === null ? null : `${fixtures}/${secretFile}`,
    jwtPublicKeyFile: publicKeyFile === null ? null : `${fixtures}/${publicKeyFile}`,
    nodeId: 'hv-01',
    maxTokenLifetimeSeconds: LIFETIME,
    clockSkewSeconds: SKEW,
    logger: silentLogger(),
  });
}

function sign(payload: JWTPayload, key: Uint8Array | KeyObject, alg: string, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, ...header }).sign(key);
}

/** The error `verify(token)` is refused with (undefined when it is accepted). */
function refusal(auth: Authenticator, token: unknown): Promise<RpcError | undefined> {
  return auth.verify(token).then(
    () => undefined,
    (e: unknown) => (e instanceof RpcError ? e : undefined),
  );
}

t.test('HS256: a platform token gives its principal', async (t) => {
  const auth = await start('jwt.secret', null);
  const exp = inOneHour();
  t.same(await auth.verify(await sign({ ...claims, exp }, hmac(SECRET), 'HS256')), {
    sub: 'alice',
    tenant: 'acme',
    permissions: ['vpc:read', 'vpc_peering:*'],
    expiresAt: (exp + SKEW) * 1000,
  });
});

for (const [alg, file] of [['EdDSA', 'ed25519.pem'], ['ES256', 'p256.pem']] as const) {
  t.test(`${alg}: a token of the platform's private key verifies with its public key`, async (t) => {
    const auth = await start(null, file);
    const token = await sign({ ...claims, exp: inOneHour() }, platformKeys[alg].privateKey, alg);
    t.match(await auth.verify(token), { sub: 'alice', tenant: 'acme', permissions: claims.perms, expiresAt: Number });

    const forged = await sign({ ...claims, exp: inOneHour() }, newKeyPair(alg).privateKey, alg);
    t.equal((await refusal(auth, forged))?.reason, 'TOKEN_INVALID', 'another key');
    t.equal((await refusal(auth, await sign({ ...claims, exp: inOneHour() }, hmac(SECRET), 'HS256')))?.reason, 'TOKEN_INVALID', 'HS256 refused');
  });
}

t.test('a platform token on a daemon with no platform key: the refusal says no key is configured', async (t) => {
  const auth = await start(null, null);
  const r = await refusal(auth, await sign({ ...claims, exp: inOneHour() }, hmac(SECRET), 'HS256'));
  t.equal(r?.reason, 'TOKEN_INVALID');
  t.match(r?.message, /no platform key is configured here \(auth\.jwtSecretFile or auth\.jwtPublicKeyFile\)/);
  // With a key of another algorithm, the algorithm is what is wrong.
  const ed = await start(null, 'ed25519.pem');
  t.match((await refusal(ed, await sign({ ...claims, exp: inOneHour() }, hmac(SECRET), 'HS256')))?.message, /its signing algorithm is not accepted here/);
});

t.test('refusals carry the right reason and never echo the token', async (t) => {
  const auth = await start('long.secret', null);
  const key = hmac(LONG_SECRET);
  const exp = inOneHour();
  const good = await sign({ ...claims, exp }, key, 'HS256');
  const [header, payload, signature] = good.split('.');
  const cases: [string, unknown, Reason][] = [
    ['no token', undefined, 'UNAUTHENTICATED'],
    ['null', null, 'UNAUTHENTICATED'],
    ['empty token', '', 'UNAUTHENTICATED'],
    ['not a string', 42, 'TOKEN_INVALID'],
    ['garbage', 'not-a-jwt', 'TOKEN_INVALID'],
    ['too long', `${good}${'a'.repeat(9000)}`, 'TOKEN_INVALID'],
    ['forged signature', await sign({ ...claims, exp }, hmac('y'.repeat(64)), 'HS256'), 'TOKEN_INVALID'],
    ['altered payload', `${header}.${b64({ ...claims, tenant: 'other', exp })}.${signature}`, 'TOKEN_INVALID'],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`, 'TOKEN_INVALID'],
    ['HS384 with the same secret', await sign({ ...claims, exp }, key, 'HS384'), 'TOKEN_INVALID'],
    ['expired', await sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 3600 }, key, 'HS256'), 'TOKEN_EXPIRED'],
    ['not yet valid', await sign({ ...claims, exp, nbf: exp - 60 }, key, 'HS256'), 'TOKEN_INVALID'],
    ['missing exp', await sign({ ...claims }, key, 'HS256'), 'TOKEN_INVALID'],
    ['missing sub', await sign({ tenant: 'acme', perms: [], exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['missing tenant', await sign({ sub: 'alice', perms: [], exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['bad tenant', await sign({ ...claims, tenant: 'Not A Tenant', exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['tenant not a string', await sign({ ...claims, tenant: 5, exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['missing perms', await sign({ sub: 'alice', tenant: 'acme', exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['perms not an array', await sign({ ...claims, perms: 'vpc:read', exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['perms of the wrong type', await sign({ ...claims, perms: [1], exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['sub with a newline', await sign({ ...claims, sub: 'alice\nlevel=error forged', exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['sub with a control character', await sign({ ...claims, sub: 'alice\u001b[31m', exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['sub with a space', await sign({ ...claims, sub: 'alice bob', exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['sub of 257 characters', await sign({ ...claims, sub: 'a'.repeat(257), exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['tenant with a newline', await sign({ ...claims, tenant: 'acme\n', exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['tenant of 64 characters', await sign({ ...claims, tenant: 'a'.repeat(64), exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['exp of 1e300', await sign({ ...claims, exp: 1e300 }, key, 'HS256'), 'TOKEN_INVALID'],
    ['lifetime past the maximum', await sign({ ...claims, iat: nowSeconds(), exp: nowSeconds() + LIFETIME + SKEW + 60 }, key, 'HS256'), 'TOKEN_INVALID'],
    ['exp past the maximum, no iat', await sign({ ...claims, exp: nowSeconds() + LIFETIME + SKEW + 60 }, key, 'HS256'), 'TOKEN_INVALID'],
    ['iat a year ahead', await sign({ ...claims, iat: nowSeconds() + 365 * 86_400, exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['iat beyond the skew', await sign({ ...claims, iat: nowSeconds() + SKEW + 60, exp }, key, 'HS256'), 'TOKEN_INVALID'],
    ['a platform token posing as an operator token', await sign({ ...claims, exp }, key, 'HS256', { kid: 'vpc-peerd-operator' }), 'TOKEN_INVALID'],
  ];
  for (const [name, token, reason] of cases) {
    const err = await refusal(auth, token);
    t.equal(err?.reason, reason, name);
    const parts = typeof token === 'string' ? token.split('.').filter((part) => part.length > 8) : [];
    t.notOk(parts.some((part) => err?.message.includes(part)), `${name}: the message does not echo the token`);
  }
});

t.test('with no platform key configured, platform tokens are refused', async (t) => {
  const auth = await start(null, null);
  t.equal((await refusal(auth, await sign({ ...claims, exp: inOneHour() }, hmac(SECRET), 'HS256')))?.reason, 'TOKEN_INVALID');
});

t.test('claims within the bounds are accepted: a sub of 256 characters, iat within the skew, the longest lifetime', async (t) => {
  const auth = await start('long.secret', null);
  const key = hmac(LONG_SECRET);
  const now = nowSeconds();
  const accepted = [
    { ...claims, sub: `a${'b'.repeat(255)}`, exp: now + 60 },
    { ...claims, sub: 'user:42@idp.example/x=1|y~z+w', exp: now + 60 },
    { ...claims, iat: now + SKEW - 5, exp: now + 60 },
    { ...claims, iat: now, exp: now + LIFETIME },
  ];
  for (const payload of accepted) t.match(await auth.verify(await sign(payload, key, 'HS256')), { sub: payload.sub }, JSON.stringify(payload).slice(0, 60));
});

t.test('the operator token verifies as tenant * with permission *, whatever the platform uses', async (t) => {
  for (const auth of [await start('jwt.secret', null), await start(null, 'ed25519.pem'), await start(null, null)]) {
    const token = await auth.mintAdminToken(60);
    t.match(await auth.verify(token), { sub: 'operator@hv-01', tenant: '*', permissions: ['*'], expiresAt: Number });
  }
});

t.test('an operator token of an earlier start (another key) is refused', async (t) => {
  const before = await start('jwt.secret', null);
  const after = await start('jwt.secret', null);
  t.equal((await refusal(after, await before.mintAdminToken(60)))?.reason, 'TOKEN_INVALID');
});

t.test('mintAdminToken refuses a ttl that is not a positive integer', async (t) => {
  const auth = await start(null, null);
  await t.rejects(auth.mintAdminToken(0));
  await t.rejects(auth.mintAdminToken(1.5));
});

t.test('bad platform keys are refused at start, naming the config key', async (t) => {
  const keyOf = (p: Promise<unknown>): Promise<string | undefined> =>
    p.then(
      () => undefined,
      (e: unknown) => (e instanceof ConfigError ? e.issues[0]?.key : undefined),
    );
  t.equal(await keyOf(start('short', null)), 'auth.jwtSecretFile', 'a 31-byte secret');
  t.equal(await keyOf(start('short-with-newline', null)), 'auth.jwtSecretFile', 'the newline does not count');
  t.equal(await keyOf(start('missing', null)), 'auth.jwtSecretFile', 'a missing file');
  t.equal(await keyOf(start(null, 'rsa.pem')), 'auth.jwtPublicKeyFile', 'an RSA key');
  t.equal(await keyOf(start(null, 'private.pem')), 'auth.jwtPublicKeyFile', 'a private key');
  t.equal(await keyOf(start(null, 'garbage.pem')), 'auth.jwtPublicKeyFile', 'not a key');

  const exact = await start('exact-crlf', null);
  const token = await sign({ ...claims, exp: inOneHour() }, hmac('x'.repeat(32)), 'HS256');
  t.equal((await exact.verify(token)).sub, 'alice', 'a 32-byte secret then CRLF is accepted, without the CRLF');
});

t.test('writeAdminToken writes mode 0600 atomically, replacing a looser file', async (t) => {
  const dir = t.testdir({ old: { 'admin.token': 'stale' } });
  await chmod(`${dir}/old/admin.token`, 0o644);

  await writeAdminToken(`${dir}/old/admin.token`, 'fresh-token');
  t.equal(await readFile(`${dir}/old/admin.token`, 'utf8'), 'fresh-token');
  t.equal((await stat(`${dir}/old/admin.token`)).mode & 0o777, 0o600);
  t.same(await readdir(`${dir}/old`), ['admin.token'], 'no temp file left behind');

  await writeAdminToken(`${dir}/new/sub/admin.token`, 'token');
  t.equal((await stat(`${dir}/new/sub/admin.token`)).mode & 0o777, 0o600);
  t.equal((await stat(`${dir}/new/sub`)).mode & 0o777, 0o700, 'a created folder is private');
});

t.test('writeAdminToken leaves no temp file when it fails', async (t) => {
  const dir = t.testdir({ 'a-folder-in-the-way': {} });
  await t.rejects(writeAdminToken(`${dir}/a-folder-in-the-way`, 'token'));
  t.same(await readdir(dir), ['a-folder-in-the-way']);
});
