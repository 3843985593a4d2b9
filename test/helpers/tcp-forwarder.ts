// A TCP forwarder for partition tests: every link between two gossiping parties runs through
// it, and the test can cut it (close every connection and refuse new ones), heal it, or
// black-hole it (connections stay up, bytes are swallowed: a peer that accepts TCP and never
// answers). A benchmark can also watch the bytes it passes on (`onData`).
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Forwarder {
  readonly port: number;
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

export async function startForwarder(targetPort: number, host = '127.0.0.1', onData?: ForwardObserver): Promise<Forwarder> {
  let mode: 'pass' | 'cut' | 'hole' = 'pass';
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, host);
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
