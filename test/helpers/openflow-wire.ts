// Raw OpenFlow over a Unix socket, for the codec's fixtures and tests: a client that frames what
// a switch sends, a fake switch that records what ovs-ofctl sends, and the .hex fixture format
// (test/fixtures/openflow/: `#` comment lines, then the frame's bytes in hex).
import { connect, createServer, type Server, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Flow } from '../../src/ovs/flow.js';
import { frameLength } from '../../src/ovs/openflow/codec.js';

/** The cookie of the fixtures' own flows. */
export const COOKIE = 0x5eed00000000000an;

/** The flows of the fixtures: the vocabulary of src/reconcile/desired.ts. */
export const FIXTURE_FLOWS: readonly Flow[] = [
  { table: 0, priority: 100, cookie: COOKIE, match: 'ip,nw_src=10.1.0.0/16,nw_dst=10.2.0.0/16', actions: 'NORMAL' },
  { table: 0, priority: 110, cookie: COOKIE, match: 'arp,in_port=3,arp_spa=10.2.0.0/16,arp_tpa=10.1.0.0/16', actions: 'output:3' },
  { table: 0, priority: 100, cookie: COOKIE, match: 'ipv6,ipv6_src=fd00:1::/64,ipv6_dst=fd00:2::/64', actions: 'NORMAL' },
  { table: 0, priority: 120, cookie: COOKIE, match: 'icmp6,in_port=4,icmp_type=135,ipv6_src=fd00:2::/64,nd_target=fd00:1::/64', actions: 'output:4,NORMAL' },
  { table: 0, priority: 90, cookie: COOKIE, match: 'in_port=7', actions: 'drop' },
];


/** Frames of one stream, as they arrive: `next()` waits for the first that `pred` accepts. */
export class FrameQueue {
  private buf = Buffer.alloc(0);
  private readonly frames: Buffer[] = [];
  private readonly waiters: (() => void)[] = [];
  closed = false;

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      const len = frameLength(this.buf);
      if (len === null || this.buf.length < len) break;
      this.frames.push(Buffer.from(this.buf.subarray(0, len)));
      this.buf = this.buf.subarray(len);
    }
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The first queued frame `pred` accepts (taken off the queue), waiting up to `timeoutMs`. */
  async next(what: string, pred: (frame: Buffer) => boolean = () => true, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0] as Buffer;
      if (this.closed) throw new Error(`stream closed before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms (queued types: ${this.frames.map((f) => f[1]).join(',')})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** The ofp_header type and xid of a frame. */
export function headerOf(frame: Buffer): { type: number; xid: number } {
  return { type: frame.readUInt8(1), xid: frame.readUInt32BE(4) };
}

/** A frame of `type` (and `xid` when given). */
export function isType(type: number, xid?: number): (f: Buffer) => boolean {
  return (f) => f.readUInt8(1) === type && (xid === undefined || f.readUInt32BE(4) === xid);
}

export interface OfClient {
  readonly frames: FrameQueue;
  send(frame: Buffer): void;
  close(): void;
}

/** Connects to a switch's socket (a bridge's `<rundir>/<bridge>.mgmt`). */
export function ofConnect(path: string): Promise<OfClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const frames = new FrameQueue();
    socket.on('data', (c: Buffer) => frames.push(c));
    socket.on('close', () => frames.close());
    socket.once('error', reject);
    socket.once('connect', () => resolve({ frames, send: (f) => socket.write(f), close: () => socket.destroy() }));
  });
}

/**
 * A fake OpenFlow 1.4 switch on `path`: says hello, answers what ovs-ofctl waits for (barrier,
 * echo, features, get-config, bundle controls, an empty reply to every multipart request) and
 * records every frame received, in order.
 */
export function fakeSwitch(path: string): Promise<{ server: Server; received: Buffer[]; close(): Promise<void> }> {
  const received: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.write(header(0, 8 + 8, 1, Buffer.from('00010008' + '00000020', 'hex')));
    let buf = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      for (;;) {
        const len = frameLength(buf);
        if (len === null || buf.length < len) return;
        const f = Buffer.from(buf.subarray(0, len));
        buf = buf.subarray(len);
        received.push(f);
        const r = answer(f);
        if (r !== null) socket.write(r);
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () =>
      resolve({
        server,
        received,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}

function header(type: number, length: number, xid: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt8(5, 0);
  h.writeUInt8(type, 1);
  h.writeUInt16BE(length, 2);
  h.writeUInt32BE(xid, 4);
  return Buffer.concat([h, body]);
}

function reply(type: number, xid: number, body: Buffer): Buffer {
  return header(type, 8 + body.length, xid, body);
}

/** What the fake switch answers to a frame, or null. */
function answer(f: Buffer): Buffer | null {
  const { type, xid } = headerOf(f);
  const body = f.subarray(8);
  switch (type) {
    case 2: // echo request
      return reply(3, xid, body);
    case 5: {
      // features request: datapath id, n_buffers, n_tables, auxiliary id, pad, capabilities, reserved
      const b = Buffer.alloc(24);
      b.writeBigUInt64BE(1n, 0);
      b.writeUInt8(254, 12);
      return reply(6, xid, b);
    }
    case 7: // get config request
      return reply(8, xid, Buffer.from('0000ffff', 'hex'));
    case 18:
      // Table features (12), which ovs-ofctl asks for table names: refused (OFPBRC_BAD_MULTIPART);
      // every other multipart request: an empty reply of its type.
      if (body.readUInt16BE(0) === 12) return reply(1, xid, Buffer.concat([Buffer.from('00010002', 'hex'), f.subarray(0, 64)]));
      return reply(19, xid, Buffer.concat([body.subarray(0, 2), Buffer.alloc(6)]));
    case 20: // barrier
      return reply(21, xid, Buffer.alloc(0));
    case 33: {
      // bundle control: the reply of the request (type + 1), same id and flags
      const b = Buffer.from(body.subarray(0, 8));
      b.writeUInt16BE(b.readUInt16BE(4) + 1, 4);
      return reply(33, xid, b);
    }
    default:
      return null;
  }
}

/** Writes one frame as a .hex fixture: `# ` comment lines, then 32 bytes of hex per line. */
export function writeHexFixture(path: string, comment: string, frame: Buffer): void {
  const hex = frame.toString('hex');
  const lines = comment.split('\n').map((l) => `# ${l}`);
  for (let i = 0; i < hex.length; i += 64) lines.push(hex.slice(i, i + 64));
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/** The frame of a .hex fixture. */
export function readHexFixture(path: string): Buffer {
  const hex = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('')
    .replace(/\s+/g, '');
  return Buffer.from(hex, 'hex');
}
