// A TCP forwarder for partition tests: every link between two gossiping parties runs through
// it, and the test can cut it (close every connection and refuse new ones), heal it, or
// black-hole it (connections stay up, bytes are swallowed: a peer that accepts TCP and never
// answers).
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

export async function startForwarder(targetPort: number, host = '127.0.0.1'): Promise<Forwarder> {
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
      if (mode === 'pass') upstream.write(b);
    });
    upstream.on('data', (b) => {
      if (mode === 'pass') client.write(b);
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
