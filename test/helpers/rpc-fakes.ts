// Fakes for the RPC layer tests: a small method table, an authenticator, a logger that records.
import { z } from 'zod';
import type { Principal } from '../../src/domain/types.js';
import { RpcError } from '../../src/errors.js';
import { createLogger, silentLogger, type Logger } from '../../src/log/logger.js';
import { createDispatcher } from '../../src/rpc/dispatcher.js';
import { defineMethod, type MethodSpec } from '../../src/rpc/method.js';
import { createRpcServer, type RpcServer } from '../../src/rpc/server.js';

export const ALICE: Principal = { sub: 'alice', tenant: 't1', permissions: ['*'] };
export const BOB: Principal = { sub: 'bob', tenant: 't2', permissions: ['vpc:read'] };

export async function fakeAuthenticate(token: string): Promise<Principal> {
  await Promise.resolve();
  if (token === 'alice-token') return ALICE;
  if (token === 'bob-token') return BOB;
  if (token === 'expired-token') throw new RpcError('TOKEN_EXPIRED', 'The token has expired.');
  throw new RpcError('TOKEN_INVALID', 'The token is not valid.');
}

export function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', sink: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) } });
  return { logger, lines };
}

/** A gate a test opens to let `slow` calls finish. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

export function fakeMethods(opts: { slow?: Promise<void> } = {}): MethodSpec[] {
  return [
    defineMethod({
      name: 'auth.login',
      summary: 'Log this connection in.',
      auth: 'none',
      params: z.strictObject({ token: z.string() }),
      handler: async ({ token }, { connection }) => {
        connection.principal = await fakeAuthenticate(token);
        return connection.principal;
      },
    }),
    defineMethod({
      name: 'echo',
      summary: 'Returns its params and who called.',
      auth: 'none',
      params: z.looseObject({}),
      handler: (params, { principal, connection }) => ({ params, sub: principal?.sub ?? null, connection: connection.id }),
    }),
    defineMethod({
      name: 'whoami',
      summary: 'The calling principal.',
      auth: 'required',
      permission: 'vpc:read',
      params: z.strictObject({}),
      result: z.object({ sub: z.string() }),
      handler: (_params, { principal }) => ({ sub: principal.sub, tenant: principal.tenant }),
    }),
    defineMethod({
      name: 'vpc.get',
      summary: 'A typed method.',
      auth: 'required',
      permission: 'vpc:read',
      params: z.strictObject({
        id: z.string().regex(/^[a-z]+$/, 'must be lowercase letters'),
        cidrs: z.array(z.string().max(18)).min(1).optional(),
        limit: z.number().int().default(10),
      }),
      handler: (params) => ({ ...params }),
    }),
    defineMethod({
      name: 'conflict',
      summary: 'Always a domain error.',
      auth: 'none',
      params: z.object({}),
      handler: () => {
        throw new RpcError('CIDR_OVERLAP', '10.0.0.0/16 overlaps 10.0.1.0/24.', { cidrs: ['10.0.0.0/16', '10.0.1.0/24'] });
      },
    }),
    defineMethod({
      name: 'boom',
      summary: 'Always an internal fault.',
      auth: 'none',
      params: z.object({}),
      handler: () => {
        throw new Error('secret internal detail at /var/lib/x');
      },
    }),
    defineMethod({
      name: 'bigint',
      summary: 'A result JSON cannot carry.',
      auth: 'none',
      params: z.object({}),
      handler: () => ({ n: 1n }),
    }),
    defineMethod({
      name: 'nothing',
      summary: 'Returns undefined.',
      auth: 'none',
      params: z.object({}),
      handler: () => undefined,
    }),
    defineMethod({
      name: 'big',
      summary: 'A large reply to a small request.',
      auth: 'none',
      params: z.object({ bytes: z.number().int().max(1_000_000) }),
      handler: ({ bytes }) => ({ pad: 'x'.repeat(bytes) }),
    }),
    defineMethod({
      name: 'slow',
      summary: 'Waits for the test to open a gate.',
      auth: 'none',
      params: z.object({ tag: z.string().optional() }),
      handler: async ({ tag }) => {
        await opts.slow;
        return { done: true, tag: tag ?? null };
      },
    }),
  ];
}

/** A method of a fake daemon: any params, a logged-in caller (fakeAuthenticate's tokens). */
export type FakeHandler = (params: Record<string, unknown>, principal: Principal) => unknown;

/**
 * A real RPC server on the Unix socket `path` whose methods are `handlers` (each needs a login
 * with vpc:read, which every principal of fakeAuthenticate holds, and takes any params): a daemon for CLI tests, not yet listening (the caller listens and closes,
 * so that a test can stop it and start another on the same path, as a restart does).
 */
export function fakeDaemonServer(path: string, handlers: Readonly<Record<string, FakeHandler>>): RpcServer {
  const methods = Object.entries(handlers).map(([name, handler]) =>
    defineMethod({ name, summary: name, auth: 'required', permission: 'vpc:read', params: z.looseObject({}), handler: (params, { principal }) => handler(params, principal) }),
  );
  const dispatcher = createDispatcher({ methods, authenticate: fakeAuthenticate, logger: silentLogger(), maxBatchSize: 10 });
  return createRpcServer({ path, mode: 0o660, group: null, maxLineBytes: 1 << 20, maxConnections: 8, dispatcher, logger: silentLogger() });
}
