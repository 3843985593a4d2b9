// A TCP forwarder for partition tests: every link between two gossiping parties runs through
// it, and the test can cut it (close every connection and refuse new ones), heal it, or
// black-hole it (connections stay up, bytes are swallowed: a peer that accepts TCP and never
// answers). A benchmark can also watch the bytes it passes on (`onData`). Its own port is bound
// at once; its target may be set later (`setTarget`), once the party it leads to listens on a
// port it picked itself: a port chosen in advance could be taken before that party binds it.
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Forwarder {
  readonly port: number;
  /** Forwards connections made from now on to `port` (on the forwarder's host). */
  setTarget(port: number): void;
  /** Closes every connection and refuses new ones until heal(). */
  cut(): void;
  heal(): void;
  /** Keeps connections open but forwards nothing, either way, until heal(). */
  blackHole(): void;
  close(): Promise<void>;
}

/**
 * Called with every chunk passed on: `up` from the connecting side to the target, `down` back;
 * `at` is performance.now() when it arrived.
 */
export type ForwardObserver = (direction: 'up' | 'down', bytes: Buffer, at: number) => void;

/**
 * A forwarder on a free port of `host` to `targetPort` there. With `targetPort` null, connections
 * are closed at once (as a party not listening yet refuses them) until setTarget().
 */
export async function startForwarder(targetPort: number | null, host = '127.0.0.1', onData?: ForwardObserver): Promise<Forwarder> {
  let mode: 'pass' | 'cut' | 'hole' = 'pass';
  let target = targetPort;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (mode === 'cut' || target === null) {
      client.destroy();
      return;
    }
    const upstream = connect(target, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (b) => {
      if (mode !== 'pass') return;
      onData?.('up', b, performance.now());
      upstream.write(b);
    });
    upstream.on('data', (b) => {
      if (mode !== 'pass') return;
      onData?.('down', b, performance.now());
      client.write(b);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    setTarget(port) {
      target = port;
    },
    cut() {
      mode = 'cut';
      for (const s of sockets) s.destroy();
    },
    heal() {
      mode = 'pass';
    },
    blackHole() {
      mode = 'hole';
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
