// The OpenFlow channel's link logic against a scripted switch on a Unix socket: what a real
// vswitchd will not do on demand (offer no 1.4, go silent, corrupt the stream, stop reading,
// split a reply, refuse one flow mod of a bundle). That the channel programs a real OVS is
// test/integration/openflow-channel.ovs.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createLogger } from '../../../src/log/logger.js';
import { canonicalMatch } from '../../../src/ovs/flow.js';
import { createOfChannel, type OfChannel, OfChannelError, type OfChannelOptions, OfErrorReply } from '../../../src/ovs/openflow/channel.js';
import { decodeMessage, encodeMessage, frameLength } from '../../../src/ovs/openflow/codec.js';
import { toOfFlow } from '../../../src/ovs/openflow/flows.js';
import { OfCodecError, type OfMessage, type ReportedFlow, OFP14_VERSION } from '../../../src/ovs/openflow/messages.js';
import { until } from '../../helpers/poll.js';

const logger = createLogger({ level: 'error' });

/** Replies to one message from the channel: the messages to send back (none by default). */
type Script = (msg: OfMessage, conn: Socket) => OfMessage[] | undefined;

interface FakeSwitch {
  readonly path: string;
  /** Every message received, per connection (index 0: the first connection). */
  readonly received: OfMessage[][];
  readonly connections: Socket[];
  send(conn: Socket, msg: OfMessage): void;
}

/** A switch that says `hello` as told and answers the rest by `script`. */
async function fakeSwitch(t: Test, hello: OfMessage | null, script: Script = () => undefined): Promise<FakeSwitch> {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-ofch-'));
  const path = join(dir, 'br.mgmt');
  const received: OfMessage[][] = [];
  const connections: Socket[] = [];
  const send = (conn: Socket, msg: OfMessage): void => {
    if (!conn.destroyed) conn.write(encodeMessage(msg));
  };
  const server: Server = createServer((conn) => {
    const mine: OfMessage[] = [];
    received.push(mine);
    connections.push(conn);
    conn.on('error', () => undefined);
    if (hello) send(conn, hello);
    let buf = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (let n = frameLength(buf); n !== null && buf.length >= n; n = frameLength(buf)) {
        const msg = decodeMessage(buf.subarray(0, n));
        buf = buf.subarray(n);
        mine.push(msg);
        for (const reply of script(msg, conn) ?? []) send(conn, reply);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(async () => {
    for (const c of connections) c.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, received, connections, send };
}

const HELLO: OfMessage = { type: 'hello', xid: 1, versions: [1, 4, 5, 6], headerVersion: 6 };

function channel(t: Test, sw: FakeSwitch, extra: Partial<OfChannelOptions> = {}, events: Parameters<typeof createOfChannel>[1] = {}): OfChannel {
  const ch = createOfChannel({ path: sw.path, logger, backoff: { minMs: 10, maxMs: 50 }, ...extra }, events);
  t.teardown(() => ch.close());
  return ch;
}

async function connected(t: Test, ch: OfChannel): Promise<void> {
  const up = await until(async () => ch.connected, 5_000);
  t.ok(up.ok, 'the channel is connected');
}

const reported = (priority: number): ReportedFlow => {
  const f = toOfFlow({ table: 0, priority, cookie: 7n, match: canonicalMatch(`ip,nw_dst=10.0.${priority}.0/24`), actions: 'drop' });
  return { ...f, matchBytes: Buffer.alloc(0) };
};

const rejection = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

t.test('a switch without OpenFlow 1.4 is refused, told why, and retried', async (t) => {
  const sw = await fakeSwitch(t, { type: 'hello', xid: 1, versions: [1, 4], headerVersion: 4 });
  const ch = channel(t, sw);
  const retried = await until(async () => sw.connections.length >= 2, 5_000);
  t.ok(retried.ok, 'it reconnects with backoff');
  t.notOk(ch.connected, 'and never counts the link as up');
  t.notOk(ch.unreachable, 'a switch that answers is not unreachable, only unfit');
  const first = sw.received[0] ?? [];
  t.same(
    first.map((m) => m.type),
    ['hello', 'error'],
    'our hello, then an error',
  );
  const err = first[1] as OfMessage & { type: 'error' };
  t.same([err.errType, err.code], [0, 0], 'OFPET_HELLO_FAILED / OFPHFC_INCOMPATIBLE');
  t.same((first[0] as OfMessage & { type: 'hello' }).versions, [OFP14_VERSION], 'we offer exactly 1.4');
  const refused = await rejection(ch.request({ type: 'barrier_request' }));
  t.ok(refused instanceof OfChannelError && refused.kind === 'disconnected', 'a request while not connected fails at once');
});

t.test('replies are matched by xid; multipart parts are joined; errors reach their request', async (t) => {
  const sw = await fakeSwitch(t, HELLO, (msg) => {
    if (msg.type === 'flow_stats_request') {
      return [
        { type: 'flow_stats_reply', xid: msg.xid, more: true, flows: [reported(1), reported(2)] },
        { type: 'flow_stats_reply', xid: msg.xid, more: false, flows: [reported(3)] },
      ];
    }
    if (msg.type === 'barrier_request') return [{ type: 'error', xid: msg.xid, errType: 1, code: 1, data: Buffer.alloc(0) }];
    return undefined;
  });
  const ch = channel(t, sw);
  await connected(t, ch);
  const [stats, refused] = await Promise.all([ch.flowStats(7n, (1n << 64n) - 1n), rejection(ch.request({ type: 'barrier_request' }))]);
  t.same(
    stats.map((f) => f.priority),
    [1, 2, 3],
    'both parts of the reply, in order',
  );
  t.ok(refused instanceof OfErrorReply && refused.errType === 1 && refused.index === null, 'the error went to the barrier');
});

t.test('a bundle: open, adds, close, commit; a refused add discards it and names the mod', async (t) => {
  let refuse = -1;
  const sw = await fakeSwitch(t, HELLO, (msg) => {
    if (msg.type === 'bundle_control') {
      const reply = msg.control.replace('_request', '_reply') as typeof msg.control;
      return [{ ...msg, control: reply }];
    }
    if (msg.type === 'bundle_add' && msg.message.flow.priority === refuse) return [{ type: 'error', xid: msg.xid, errType: 4, code: 3, data: Buffer.alloc(0) }];
    return undefined;
  });
  const ch = channel(t, sw);
  await connected(t, ch);
  const mods = [1, 2, 3].map((p) => ({ type: 'flow_mod' as const, command: 'add' as const, flow: reported(p) as never }));
  await ch.bundle(mods);
  const kinds = (sw.received[0] ?? []).slice(1).map((m) => (m.type === 'bundle_control' ? m.control : m.type));
  t.same(kinds, ['open_request', 'bundle_add', 'bundle_add', 'bundle_add', 'close_request', 'commit_request'], 'the bundle as sent');
  const adds = (sw.received[0] ?? []).filter((m) => m.type === 'bundle_add');
  t.ok(
    adds.every((m) => m.type === 'bundle_add' && m.message.xid === m.xid && m.atomic && m.ordered),
    'each bundled flow mod carries its bundle add’s xid; atomic, ordered',
  );

  refuse = 2;
  const before = (sw.received[0] ?? []).length;
  const err = await rejection(ch.bundle(mods));
  t.ok(err instanceof OfErrorReply && err.index === 1 && err.errType === 4, 'the refusal names flow mod #1 (priority 2)');
  const after = (sw.received[0] ?? []).slice(before).map((m) => (m.type === 'bundle_control' ? m.control : m.type));
  t.same(after, ['open_request', 'bundle_add', 'bundle_add', 'bundle_add', 'close_request', 'discard_request'], 'discarded, never committed');

  // A flow the codec cannot encode: the bundle is refused before any of it is sent.
  const sentBefore = (sw.received[0] ?? []).length;
  const beyond = { type: 'flow_mod' as const, command: 'add' as const, flow: toOfFlow({ table: 0, priority: 9, cookie: 7n, match: 'dl_src=aa:00:00:00:00:01', actions: 'drop' }) };
  const codec = await rejection(ch.bundle([mods[0] as (typeof mods)[number], beyond]));
  t.ok(codec instanceof OfCodecError, `refused by the codec (${String(codec)})`);
  await ch.request({ type: 'bundle_control', bundleId: 1, control: 'open_request', atomic: true, ordered: true });
  const afterCodec = (sw.received[0] ?? []).slice(sentBefore).map((m) => (m.type === 'bundle_control' ? m.control : m.type));
  t.same(afterCodec, ['open_request'], 'nothing of it reached the switch, no discard either (only the probe that follows)');
});

t.test('unreachable: no socket, or a switch that went away; not once it answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-ofch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const none = createOfChannel({ path: join(dir, 'gone.mgmt'), logger, backoff: { minMs: 10, maxMs: 50 } });
  t.teardown(() => none.close());
  t.notOk(none.unreachable, 'not before the first attempt ends');
  const failed = await until(async () => none.unreachable, 5_000);
  t.ok(failed.ok && !none.connected, 'no such socket: unreachable');
  const sw = await fakeSwitch(t, HELLO);
  const ch = channel(t, sw);
  await connected(t, ch);
  t.notOk(ch.unreachable, 'connected: reachable');
  for (const c of sw.connections) c.destroy();
  const gone = await until(async () => ch.unreachable, 5_000);
  t.ok(gone.ok, 'the switch closed the link: unreachable until it answers again');
  const back = await until(async () => ch.connected && !ch.unreachable, 5_000);
  t.ok(back.ok, 'reconnected: reachable again');
});

t.test('a silent switch: echo, then the link is dropped and made again', async (t) => {
  const sw = await fakeSwitch(t, HELLO);
  let drops = 0;
  const ch = channel(t, sw, { echoIntervalMs: 100 }, { onDisconnect: () => drops++ });
  await connected(t, ch);
  const dropped = await until(async () => drops === 1, 5_000);
  t.ok(dropped.ok, `dropped after the echo went unanswered (${dropped.ms} ms)`);
  t.ok(
    (sw.received[0] ?? []).some((m) => m.type === 'echo_request'),
    'an echo request was sent first',
  );
  const again = await until(async () => sw.connections.length >= 2, 5_000);
  t.ok(again.ok, 'and it reconnected');
});

t.test('a switch that answers echoes keeps the link; its own echo is answered', async (t) => {
  const sw = await fakeSwitch(t, HELLO, (msg) => (msg.type === 'echo_request' ? [{ type: 'echo_reply', xid: msg.xid, data: msg.data }] : undefined));
  let drops = 0;
  const ch = channel(t, sw, { echoIntervalMs: 50 }, { onDisconnect: () => drops++ });
  await connected(t, ch);
  const conn = sw.connections[0] as Socket;
  sw.send(conn, { type: 'echo_request', xid: 77, data: Buffer.from('hi') });
  const echoed = await until(async () => (sw.received[0] ?? []).filter((m) => m.type === 'echo_request').length >= 4, 5_000);
  t.ok(echoed.ok, 'several echo rounds');
  const answer = (sw.received[0] ?? []).find((m) => m.type === 'echo_reply');
  t.ok(answer?.type === 'echo_reply' && answer.xid === 77 && answer.data.toString() === 'hi', 'the switch’s echo is answered with its xid and data');
  t.equal(drops, 0, 'and the link stays up');
});

t.test('a corrupt stream drops the link; unsolicited monitor updates reach onMonitorUpdates', async (t) => {
  const sw = await fakeSwitch(t, HELLO);
  let drops = 0;
  const updates: unknown[] = [];
  const ch = channel(t, sw, {}, { onDisconnect: () => drops++, onMonitorUpdates: (u) => updates.push(...u) });
  await connected(t, ch);
  sw.send(sw.connections[0] as Socket, { type: 'flow_monitor_reply', xid: 0, more: false, updates: [{ event: 'paused' }, { event: 'resumed' }] });
  const got = await until(async () => updates.length === 2, 5_000);
  t.ok(got.ok, 'the paused/resumed updates were delivered');
  // ofp_header.length 4: shorter than the header itself.
  (sw.connections[0] as Socket).write(Buffer.from([OFP14_VERSION, 2, 0, 4, 0, 0, 0, 9]));
  const dropped = await until(async () => drops === 1, 5_000);
  t.ok(dropped.ok, 'a frame length below 8 drops the link');
  await connected(t, ch);
  t.ok(sw.connections.length >= 2, 'and it reconnected');
});

t.test('timeouts, a full send queue and close() reject with their kind', async (t) => {
  const sw = await fakeSwitch(t, HELLO);
  const ch = channel(t, sw, { requestTimeoutMs: 100, maxQueuedBytes: 64 * 1024 });
  await connected(t, ch);
  const timedOut = await rejection(ch.request({ type: 'barrier_request' }));
  t.ok(timedOut instanceof OfChannelError && timedOut.kind === 'timeout', 'no reply: timeout');

  // The switch stops reading: the kernel buffer fills, then the socket's, then the bound.
  (sw.connections[0] as Socket).pause();
  const many = Array.from({ length: 20_000 }, (_, i) => ({ type: 'flow_mod' as const, command: 'add' as const, flow: reported((i % 250) + 1) as never }));
  const full = await rejection(ch.bundle(many));
  t.ok(full instanceof OfChannelError && full.kind === 'queue_full', `past the bound: queue_full (${String(full)})`);

  const waiting = rejection(ch.request({ type: 'barrier_request' }));
  ch.close();
  const closed = await waiting;
  t.ok(closed instanceof OfChannelError && (closed.kind === 'closed' || closed.kind === 'queue_full'), 'close() rejects what waits');
  const after = await rejection(ch.request({ type: 'barrier_request' }));
  t.ok(after instanceof OfChannelError && after.kind === 'closed', 'and everything after it');
});
