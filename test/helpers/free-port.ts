import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 now (bound and released: a test's daemon listens on it next). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
