// A TCP server that accepts every connection and never answers (a peer whose host is up and whose
// daemon is hung, or a firewall that swallows): for the black-holed peer tests and benchmark.
import { createServer, type Socket } from 'node:net';

export interface BlackHole {
  readonly port: number;
  /** Connections accepted so far (each dial of the peer is one). */
  readonly accepted: () => number;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (a free port); reads and drops whatever arrives, sends nothing. */
export async function startBlackHole(): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('error', () => s.destroy());
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
