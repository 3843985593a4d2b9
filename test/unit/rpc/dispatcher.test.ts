import t from 'tap';
import { z } from 'zod';
import { silentLogger } from '../../../src/log/logger.js';
import { MAX_NESTING_DEPTH, createDispatcher } from '../../../src/rpc/dispatcher.js';
import { defineMethod, type ConnectionState } from '../../../src/rpc/method.js';
import { ALICE, fakeAuthenticate, fakeMethods, recordingLogger } from '../../helpers/rpc-fakes.js';

type Obj = Record<string, unknown>;
interface Reply {
  jsonrpc: string;
  id: unknown;
  result?: Obj;
  error?: { code: number; message: string; data: Obj };
}

function setup(maxBatchSize = 5) {
  const { logger, lines } = recordingLogger();
  const d = createDispatcher({ methods: fakeMethods(), authenticate: fakeAuthenticate, logger, maxBatchSize });
  let nextConn = 0;
  const conn = (): ConnectionState => ({ id: ++nextConn, principal: null });
  /** Sends a payload (a string is sent as the raw line); T is the reply's expected shape. */
  const send = async <T = Reply>(payload: unknown, c: ConnectionState = conn()): Promise<T> => {
    const line = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const reply = await d.handleLine(line, c);
    return (reply === null ? null : JSON.parse(reply)) as T;
  };
  return { d, send, conn, lines };
}

const req = (method: string, params?: unknown, id: unknown = 1) =>
  params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };

t.test('a call gets its result under its id', async (t) => {
  const { send } = setup();
  t.same(await send(req('echo', { a: 1 }, 'x-1')), { jsonrpc: '2.0', id: 'x-1', result: { params: { a: 1 }, sub: null, connection: 1 } });
  t.same((await send(req('echo', undefined, 7))).result?.params, {}, 'absent params are {}');
  t.equal((await send(req('echo', {}, null))).id, null, 'id null is an id');
  t.same(await send(req('nothing')), { jsonrpc: '2.0', id: 1, result: null }, 'undefined result is sent as null');
});

t.test('-32700 on malformed JSON, with id null and a reason', async (t) => {
  const { send } = setup();
  for (const line of ['{"jsonrpc":"2.0",', 'nope', '{"a":1}}']) {
    const r = await send(line);
    t.equal(r.id, null);
    t.equal(r.error?.code, -32700);
    t.equal(r.error?.data.reason, 'PARSE_ERROR');
  }
});

t.test('-32600 on an invalid envelope', async (t) => {
  const { send } = setup();
  const cases: [unknown, unknown][] = [
    [{ id: 1, method: 'echo' }, 1], // no jsonrpc
    [{ jsonrpc: '1.0', id: 2, method: 'echo' }, 2],
    [{ jsonrpc: '2.0', id: 3 }, 3], // no method
    [{ jsonrpc: '2.0', id: 4, method: 5 }, 4],
    [{ jsonrpc: '2.0', id: { x: 1 }, method: 'echo' }, null], // bad id type: reply under null
    [{ jsonrpc: '2.0', id: true, method: 'echo' }, null],
    [{ jsonrpc: '2.0', id: 5, method: 'echo', params: 'bar' }, 5],
    [{ jsonrpc: '2.0', id: 6, method: 'echo', params: null }, 6],
    [42, null],
    ['"a string"', null],
    [null, null],
  ];
  for (const [payload, id] of cases) {
    const r = await send(payload);
    t.equal(r.error?.code, -32600, JSON.stringify(payload));
    t.equal(r.error?.data.reason, 'INVALID_REQUEST');
    t.equal(r.id, id, `id of ${JSON.stringify(payload)}`);
  }
  t.ok(await send({ jsonrpc: '2.0', method: 5 }), 'an invalid request without id is still answered');
});

t.test('-32601 for an unknown method; nothing for an unknown notification', async (t) => {
  const { send } = setup();
  const r = await send(req('no.such'));
  t.equal(r.error?.code, -32601);
  t.equal(r.error?.data.reason, 'METHOD_NOT_FOUND');
  t.equal((await send(req('__proto__'))).error?.code, -32601, 'no prototype lookups');
  t.equal(await send({ jsonrpc: '2.0', method: 'no.such' }), null);
});

t.test('-32602: params must be an object; schema failures name the field', async (t) => {
  const { send } = setup();
  const login = { auth: 'alice-token' };
  let r = await send(req('echo', [1, 2]));
  t.equal(r.error?.code, -32602, 'by-position params are refused');
  t.equal(r.error?.data.field, '');

  r = await send(req('vpc.get', { ...login }));
  t.equal(r.error?.code, -32602);
  t.same([r.error?.data.reason, r.error?.data.field], ['INVALID_PARAMS', 'id']);
  t.match(r.error?.message, /id/);

  r = await send(req('vpc.get', { ...login, id: 'UPPER' }));
  t.equal(r.error?.data.field, 'id');
  t.match(r.error?.message, /lowercase/, 'the schema\'s own message is kept');
  t.match(r.error?.message, /^Parameter "id" is not a valid id: use .*\.$|^Parameter "id" must be .*\.$/, 'as one sentence');

  r = await send(req('vpc.get', { ...login, id: 5 }));
  t.equal(r.error?.message, 'Parameter "id" must be a string.', 'a wrong type in words, not the schema library\'s');

  r = await send(req('vpc.get', { ...login, id: 'ok', cidrs: ['10.0.0.0/16', 'x'.repeat(40)] }));
  t.equal(r.error?.data.field, 'cidrs.1', 'nested path joined with dots');

  r = await send(req('vpc.get', { ...login, id: 'ok', extra: 1 }));
  t.equal(r.error?.data.field, 'extra', 'an unknown key is named');

  r = await send(req('vpc.get', { ...login, id: 7, extra: 1 }));
  t.ok((r.error?.data.issues as unknown[]).length >= 2, 'all issues are listed');

  r = await send(req('vpc.get', { ...login, id: 'ok' }));
  t.same(r.result, { id: 'ok', limit: 10 }, 'the handler gets the parsed output (defaults applied, auth stripped)');
});

t.test('application errors keep their code, message and data, plus data.reason', async (t) => {
  const { send } = setup();
  const r = await send(req('conflict'));
  t.same(r.error, {
    code: 409,
    message: '10.0.0.0/16 overlaps 10.0.1.0/24.',
    data: { cidrs: ['10.0.0.0/16', '10.0.1.0/24'], reason: 'CIDR_OVERLAP' },
  });
});

t.test('-32603 hides internal faults, and logs them with a request id', async (t) => {
  const { send, lines } = setup();
  const r = await send(req('boom'));
  t.equal(r.error?.code, -32603);
  t.equal(r.error?.message, 'Internal error');
  t.equal(r.error?.data.reason, 'INTERNAL_ERROR');
  t.notMatch(JSON.stringify(r), /secret|var\/lib|at /, 'no internal text or stack on the wire');
  const logged = lines.find((l) => l.level === 'error');
  t.ok(logged, 'the fault is logged');
  t.equal(logged?.requestId, r.error?.data.requestId, 'the reply names the log line');
  t.match(String(logged?.stack), /secret internal detail/);

  const b = await send(req('bigint'));
  t.equal(b.error?.code, -32603, 'a result JSON cannot carry is an internal error');
  t.equal(b.id, 1);
});

t.test('an internal fault in a notification is logged but not answered', async (t) => {
  const { send, lines } = setup();
  t.equal(await send({ jsonrpc: '2.0', method: 'boom' }), null);
  t.equal(lines.filter((l) => l.level === 'error').length, 1);
});

t.test('batches', async (t) => {
  const { send } = setup(3);
  const single = await send<Reply[]>([req('echo', { a: 1 }, 1)]);
  t.ok(Array.isArray(single), 'a batch of one gets an array of one');
  t.equal(single.length, 1);

  const mixed = await send<Reply[]>([req('echo', {}, 1), { jsonrpc: '2.0', method: 'echo' }, req('no.such', {}, 3)]);
  t.same(mixed.map((r) => r.id), [1, 3], 'notifications get no element');
  t.equal(mixed[1]?.error?.code, -32601);

  t.equal(await send([{ jsonrpc: '2.0', method: 'echo' }, { jsonrpc: '2.0', method: 'boom' }]), null, 'only notifications: no reply');

  const empty = await send([]);
  t.notOk(Array.isArray(empty), 'an empty batch gets one error object');
  t.same([empty.id, empty.error?.code, empty.error?.data.reason], [null, -32600, 'EMPTY_BATCH']);

  const big = await send([1, 2, 3, 4].map((i) => req('echo', {}, i)));
  t.notOk(Array.isArray(big));
  t.same([big.error?.code, big.error?.data.reason, big.error?.data.maxBatchSize], [-32600, 'BATCH_TOO_LARGE', 3]);

  const junk = await send<Reply[]>([null, 1, 'x']);
  t.same(junk.map((r) => r.error?.code), [-32600, -32600, -32600], 'each invalid element gets its own error');

  const nested = await send<Reply[]>([[req('echo')]]);
  t.equal(nested[0]?.error?.code, -32600, 'a batch inside a batch is an invalid request');
});

t.test('a batch runs in order', async (t) => {
  const order: string[] = [];
  const methods = ['a', 'b'].map((name) =>
    defineMethod({
      name,
      summary: name,
      auth: 'none',
      params: z.object({}),
      handler: async () => {
        await new Promise((r) => setTimeout(r, name === 'a' ? 20 : 0));
        order.push(name);
        return name;
      },
    }),
  );
  const d = createDispatcher({ methods, authenticate: fakeAuthenticate, logger: silentLogger(), maxBatchSize: 5 });
  await d.handleLine(JSON.stringify([req('a', {}, 1), req('b', {}, 2)]), { id: 1, principal: null });
  t.same(order, ['a', 'b']);
});

t.test('authentication', async (t) => {
  const { send, conn } = setup();
  let r = await send(req('whoami'));
  t.same([r.error?.code, r.error?.data.reason], [401, 'UNAUTHENTICATED'], 'no principal → 401');

  r = await send(req('vpc.get', { id: 'BAD!' }));
  t.equal(r.error?.code, 401, 'authentication is checked before params');

  r = await send(req('whoami', { auth: 'alice-token' }));
  t.same(r.result, { sub: 'alice', tenant: 't1' }, 'params.auth authenticates the call');

  r = await send(req('whoami', { auth: 'expired-token' }));
  t.same([r.error?.code, r.error?.data.reason], [401, 'TOKEN_EXPIRED']);
  r = await send(req('whoami', { auth: 'forged' }));
  t.equal(r.error?.data.reason, 'TOKEN_INVALID');
  r = await send(req('whoami', { auth: 42 }));
  t.same([r.error?.code, r.error?.data.field], [-32602, 'auth']);

  const c = conn();
  r = await send(req('auth.login', { token: 'alice-token' }), c);
  t.equal(r.result?.sub, 'alice');
  t.same(c.principal, ALICE, 'login sets the connection principal');
  t.equal((await send(req('whoami'), c)).result?.sub, 'alice', 'later calls on the connection act as it');
  t.equal((await send(req('whoami', { auth: 'bob-token' }), c)).result?.sub, 'bob', 'params.auth wins over the login');
  t.equal((await send(req('whoami'), c)).result?.sub, 'alice', 'without changing the connection');
  t.equal((await send(req('whoami'))).error?.code, 401, 'another connection is not logged in');

  r = await send(req('echo', { auth: 'bob-token', x: 1 }));
  t.same([r.result?.sub, r.result?.params], ['bob', { x: 1 }], 'a public method gets the principal when given, without auth in params');
});

t.test('misuse throws at creation', (t) => {
  const methods = fakeMethods();
  t.throws(() => createDispatcher({ methods: [...methods, methods[0]!], authenticate: fakeAuthenticate, logger: silentLogger(), maxBatchSize: 5 }), /twice/);
  t.throws(() => createDispatcher({ methods, authenticate: fakeAuthenticate, logger: silentLogger(), maxBatchSize: 0 }), RangeError);
  t.end();
});

t.test('ids are echoed as sent: above 2^53, with a fraction or exponent, in batches and in errors', async (t) => {
  const { d } = setup();
  const conn: ConnectionState = { id: 1, principal: null };
  const one = await d.handleLine('{"jsonrpc":"2.0","id":9007199254740993,"method":"echo"}', conn);
  t.match(one, /^\{"jsonrpc":"2\.0","id":9007199254740993,"result":/);
  const exp = await d.handleLine('{"jsonrpc":"2.0","id":1.50E+2,"method":"echo"}', conn);
  t.match(exp, /"id":1\.50E\+2,/);
  const batch = await d.handleLine(
    '[{"jsonrpc":"2.0","id":18446744073709551617,"method":"echo"},{"jsonrpc":"2.0","id":"s","method":"echo"},{"jsonrpc":"1.0","id":9007199254740995,"method":"x"}]',
    conn,
  );
  const ids = [...(batch ?? '').matchAll(/"id":([^,]+),/g)].map((m) => m[1]);
  t.same(ids, ['18446744073709551617', '"s"', '9007199254740995'], 'each element under its own id, invalid ones too');
  const missing = await d.handleLine('{"jsonrpc":"2.0","id":12345678901234567890,"method":"vpc.explode"}', conn);
  t.match(missing, /"id":12345678901234567890,"error":/);
  t.ok(JSON.parse(missing ?? ''), 'still JSON');
});

t.test('nesting deeper than MAX_NESTING_DEPTH is refused unparsed with -32600, quickly', async (t) => {
  const { send } = setup();
  const deep = '['.repeat(512 * 1024) + ']'.repeat(512 * 1024);
  const started = performance.now();
  const reply = await send(deep);
  t.ok(performance.now() - started < 100, `answered in ${(performance.now() - started).toFixed(1)} ms`);
  t.match(reply, { id: null, error: { code: -32600, data: { reason: 'NESTING_TOO_DEEP', maxDepth: MAX_NESTING_DEPTH } } });
  const atBound = { jsonrpc: '2.0', id: 1, method: 'echo', params: { a: JSON.parse('['.repeat(MAX_NESTING_DEPTH - 2) + ']'.repeat(MAX_NESTING_DEPTH - 2)) as unknown } };
  t.match(await send(atBound), { id: 1, result: {} }, 'a request exactly at the bound is served');
  t.match(await send({ ...atBound, params: { a: [atBound.params.a] } }), { error: { data: { reason: 'NESTING_TOO_DEEP' } } }, 'one more level is not');
});

t.test('a login holds only until its token expires; an expired login is cleared', async (t) => {
  let now = 1_000_000;
  const d = createDispatcher({
    methods: fakeMethods(),
    authenticate: fakeAuthenticate,
    logger: silentLogger(),
    maxBatchSize: 5,
    now: () => now,
  });
  const conn: ConnectionState = { id: 1, principal: null };
  const call = async (method: string, params: unknown = {}): Promise<Reply> => JSON.parse((await d.handleLine(JSON.stringify(req(method, params)), conn)) ?? '') as Reply;
  // What auth.login stores: the principal with its token's expiry.
  conn.principal = { ...ALICE, expiresAt: now + 2000 };
  t.match(await call('whoami'), { result: { sub: 'alice' } }, 'served before exp');
  now += 1999;
  t.match(await call('whoami'), { result: { sub: 'alice' } }, 'served up to exp');
  now += 1;
  t.match(await call('whoami'), { error: { code: 401, data: { reason: 'TOKEN_EXPIRED' } } }, 'refused at exp');
  t.equal(conn.principal, null, 'the login is cleared');
  t.match(await call('echo'), { result: { sub: null } }, 'a public method then sees no principal');
  t.match(await call('whoami', { auth: 'alice-token' }), { result: { sub: 'alice' } }, 'a fresh per-call token still works');
});
