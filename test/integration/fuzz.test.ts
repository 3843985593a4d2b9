// Issue 9: a seeded fuzz corpus against the real daemon over its socket. Every input is one line:
// well-formed calls of every method with plausible and random params, tokens good and bad, huge
// and odd ids, batches (empty, too large, mixed with notifications), broken JSON, deep nesting,
// bytes that are not UTF-8. Every reply must be a JSON-RPC 2.0 response (or batch of them) whose
// error reason is in the catalogue with its code; a reply comes exactly when JSON-RPC says one
// is due; no connection is dropped; a normal client is served throughout; memory stays bounded.
import fc from 'fast-check';
import t from 'tap';
import { Catalogue } from '../../src/errors.js';
import { startDaemon } from '../helpers/daemon.js';
import { memoryOf, openLine, type LineConnection } from '../helpers/line-client.js';
import { PROPERTY_SEED } from '../helpers/property.js';

const INPUTS = 10_000;
const CONNECTIONS = 4;
const MAX_BATCH = 8;
const METHODS = [
  'auth.login', 'vpc.create', 'vpc.update', 'vpc.get', 'vpc.delete', 'vpc.list', 'peering.create', 'peering.accept',
  'peering.reject', 'peering.delete', 'peering.get', 'peering.list', 'reconcile.run', 'status', 'metrics', 'rpc.discover',
  'vpc.explode', '', 'rpc.', 'status ', 'constructor', '__proto__',
];
const KEYS = ['id', 'tenantId', 'cidrs', 'bridge', 'name', 'requesterVpcId', 'accepterVpcId', 'vpcId', 'status', 'dryRun', 'verbose', 'token', 'auth'];

type Obj = Record<string, unknown>;

t.test(`fuzz: ${INPUTS} seeded inputs over the socket`, async (t) => {
  const d = await startDaemon(t, { config: { socket: { path: './vpc-peerd.sock', maxBatchSize: MAX_BATCH } } });
  const pid = d.child.pid ?? 0;
  const admin = await d.admin();
  await admin.call('vpc.create', { id: 'vpc-a', tenantId: 'acme', cidrs: ['10.0.0.0/16'], bridge: 'br-a' });
  await admin.call('vpc.create', { id: 'vpc-b', tenantId: 'acme', cidrs: ['10.1.0.0/16'], bridge: 'br-b' });
  const tokens = [
    d.adminToken(),
    await d.token({ tenant: 'acme', perms: ['*'] }),
    await d.token({ tenant: 'zeta', perms: ['vpc:read', 'daemon:status'] }),
    await d.token({ tenant: 'acme', perms: ['*'], expSeconds: -60 }),
    'garbage',
    '',
  ];
  const inputs = corpus(tokens);
  const before = memoryOf(pid);

  // A normal client, served throughout: one status call at a time for as long as the fuzzing runs.
  let fuzzing = true;
  const latencies: number[] = [];
  const monitor = (async () => {
    while (fuzzing) {
      const started = performance.now();
      await admin.call('status', {});
      latencies.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();

  const failures: string[] = [];
  const stats = { replies: 0, silent: 0, byCode: new Map<number, number>(), dropped: 0 };
  // Successful results are counted under code 0.
  const fail = (input: Buffer, why: string): void => {
    if (failures.length < 10) failures.push(`${why} for ${JSON.stringify(input.toString('latin1').slice(0, 200))}`);
  };

  async function runSlice(slice: Buffer[]): Promise<void> {
    let conn: LineConnection = await openLine(d.socketPath);
    for (const input of slice) {
      if (conn.isClosed()) {
        stats.dropped += 1;
        fail(input, 'the daemon closed the connection');
        conn = await openLine(d.socketPath);
      }
      conn.socket.write(Buffer.concat([input, Buffer.from('\n')]));
      const expected = expectation(input);
      if (expected === null) {
        stats.silent += 1;
        continue;
      }
      const line = await conn.next(10_000).catch((e: unknown) => `<${String(e)}>`);
      stats.replies += 1;
      const problem = checkReply(line, expected, stats.byCode);
      if (problem !== null) fail(input, `${problem}: ${line.slice(0, 200)}`);
    }
    // A reply that was due to nobody (to a notification) would arrive before this one.
    conn.socket.write('{"jsonrpc":"2.0","id":"last","method":"vpc.explode"}\n');
    const last = await conn.next().catch((e: unknown) => String(e));
    if (!last.includes('"id":"last"')) failures.push(`a stray reply at the end: ${last.slice(0, 200)}`);
    conn.socket.destroy();
  }

  const started = performance.now();
  const per = Math.ceil(inputs.length / CONNECTIONS);
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => runSlice(inputs.slice(i * per, (i + 1) * per))));
  fuzzing = false;
  await monitor;
  const seconds = (performance.now() - started) / 1000;
  const after = memoryOf(pid);
  const maxLatency = Math.max(...latencies);

  t.comment(`${inputs.length} inputs (seed ${PROPERTY_SEED}) in ${seconds.toFixed(1)} s: ${stats.replies} replies, ${stats.silent} notifications; by code (0: a result) ${JSON.stringify(Object.fromEntries(stats.byCode))}`);
  t.comment(`status during the run: ${latencies.length} calls, max ${maxLatency.toFixed(0)} ms; RSS ${before.rssMiB.toFixed(0)} → ${after.rssMiB.toFixed(0)} MiB (peak ${after.peakMiB.toFixed(0)})`);
  t.equal(inputs.length, INPUTS, 'the whole corpus was sent');
  t.same(failures, [], 'every reply is JSON-RPC 2.0, due, and in the catalogue');
  t.equal(stats.dropped, 0, 'no connection was dropped');
  t.equal(stats.byCode.get(-32603) ?? 0, 0, 'no internal error');
  t.ok(latencies.length >= 5 && maxLatency < 1000, `a normal client was served throughout (${latencies.length} calls, max ${maxLatency.toFixed(0)} ms)`);
  t.ok(after.peakMiB - before.rssMiB < 100, `peak RSS grew by ${(after.peakMiB - before.rssMiB).toFixed(0)} MiB < 100 MiB`);
  t.match(await admin.call('status', {}), { counts: {} }, 'still serving');
  await admin.close();
});

/** The corpus: INPUTS lines (no newline inside), the same for every run of the seed. */
function corpus(tokens: string[]): Buffer[] {
  const scalar = fc.oneof(
    fc.constantFrom('vpc-a', 'vpc-b', 'vpc-new', 'acme', 'zeta', 'br-a', 'br-x', 'pcx-0123456789abcdef0', 'active', '10.5.0.0/16', '*', ''),
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 90 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
  );
  const value = fc.oneof({ weight: 4, arbitrary: scalar }, { weight: 1, arbitrary: fc.array(scalar, { maxLength: 4 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });
  const params = fc.oneof(
    { weight: 6, arbitrary: fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 5 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  );
  const auth = fc.option(fc.constantFrom(...tokens), { nil: undefined, freq: 3 });
  const id = fc.oneof(
    { weight: 4, arbitrary: fc.integer() },
    { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
    { weight: 2, arbitrary: fc.bigInt({ min: 2n ** 53n, max: 2n ** 80n }) },
    { weight: 1, arbitrary: fc.constantFrom({ nested: 1 }, true, [1]) },
  );
  const envelope = fc.record(
    {
      jsonrpc: fc.oneof({ weight: 9, arbitrary: fc.constant('2.0') }, { weight: 1, arbitrary: fc.constantFrom('1.0', 2, null) }),
      method: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: fc.integer() }),
      params,
      id,
      auth,
    },
    { requiredKeys: ['jsonrpc', 'method'] },
  ).map(({ auth: token, ...call }) => {
    if (token !== undefined && typeof call.params === 'object' && call.params !== null && !Array.isArray(call.params)) {
      (call.params as Obj).auth = token;
    }
    return call;
  });
  const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `@@${x}@@` : x)).replace(/"@@(\d+)@@"/g, '$1');
  const line = fc.oneof(
    { weight: 10, arbitrary: envelope.map(text) },
    { weight: 3, arbitrary: fc.array(envelope, { minLength: 0, maxLength: MAX_BATCH + 2 }).map(text) },
    { weight: 1, arbitrary: envelope.chain((e) => fc.nat({ max: text(e).length }).map((n) => text(e).slice(0, n))) },
    { weight: 1, arbitrary: fc.nat({ max: 60 }).map((n) => '['.repeat(n) + ']'.repeat(n)) },
    { weight: 1, arbitrary: fc.nat({ max: 60 }).map((n) => `{"jsonrpc":"2.0","id":1,"method":"status","params":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map(text) },
  );
  const bytes = fc.oneof(
    { weight: 19, arbitrary: line.map((s) => Buffer.from(s.replace(/[\n\r]/g, ' '))) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.from(b.map((x) => (x === 0x0a || x === 0x0d ? 0xff : x)))) },
  );
  return fc.sample(bytes, { seed: PROPERTY_SEED, numRuns: INPUTS });
}

/** What JSON-RPC 2.0 says a line gets: null for no reply, else whether it is a batch and the id due. */
interface Expected {
  readonly batch: boolean;
  /** For a single request with a string id: that id. */
  readonly id?: string;
}

function expectation(input: Buffer): Expected | null {
  if (input.length === 0) return null;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    return { batch: false };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { batch: false };
  }
  if (depthOf(parsed) > 16) return { batch: false };
  if (!Array.isArray(parsed)) {
    if (isNotification(parsed)) return null;
    const id = (parsed as Obj | null)?.id;
    return { batch: false, ...(typeof id === 'string' && (parsed as Obj).jsonrpc === '2.0' && typeof (parsed as Obj).method === 'string' ? { id } : {}) };
  }
  if (parsed.length === 0 || parsed.length > MAX_BATCH) return { batch: false };
  return parsed.every(isNotification) ? null : { batch: true };
}

function isNotification(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Obj;
  return o.jsonrpc === '2.0' && typeof o.method === 'string' && !('id' in o) && (!('params' in o) || (typeof o.params === 'object' && o.params !== null));
}

function depthOf(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + children.reduce((m: number, c) => Math.max(m, depthOf(c)), 0);
}

/** Null when `line` is the reply `expected`; else what is wrong with it. Counts error codes. */
function checkReply(line: string, expected: Expected, byCode: Map<number, number>): string | null {
  let reply: unknown;
  try {
    reply = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (Array.isArray(reply) !== expected.batch) return expected.batch ? 'a batch got a single reply' : 'a single request got an array';
  const responses = Array.isArray(reply) ? (reply as unknown[]) : [reply];
  if (responses.length === 0) return 'an empty batch reply';
  for (const r of responses) {
    const problem = checkResponse(r, byCode);
    if (problem !== null) return problem;
  }
  if (expected.id !== undefined && (reply as Obj).id !== expected.id) return `id ${JSON.stringify((reply as Obj).id)} instead of ${JSON.stringify(expected.id)}`;
  return null;
}

function checkResponse(r: unknown, byCode: Map<number, number>): string | null {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'a response is not an object';
  const o = r as Obj;
  if (Object.keys(o).some((k) => !['jsonrpc', 'id', 'result', 'error'].includes(k))) return 'extra members';
  if (o.jsonrpc !== '2.0') return 'jsonrpc is not "2.0"';
  if (!('id' in o) || !(typeof o.id === 'string' || typeof o.id === 'number' || o.id === null)) return 'a bad id';
  if (('result' in o) === ('error' in o)) return 'not exactly one of result and error';
  if (!('error' in o)) {
    byCode.set(0, (byCode.get(0) ?? 0) + 1);
    return null;
  }
  const e = o.error as { code?: unknown; message?: unknown; data?: { reason?: unknown } } | null;
  if (typeof e?.code !== 'number' || !Number.isInteger(e.code) || typeof e.message !== 'string' || e.message === '') return 'a malformed error';
  byCode.set(e.code, (byCode.get(e.code) ?? 0) + 1);
  const reason = e.data?.reason;
  if (typeof reason !== 'string' || !(reason in Catalogue)) return `reason ${String(reason)} is not in the catalogue`;
  if (Catalogue[reason as keyof typeof Catalogue][0] !== e.code) return `reason ${reason} with code ${e.code}`;
  return null;
}
