// The wiring of two gossiping daemons before they start (test/integration/gossip-*.test.ts): one
// shared HMAC secret file, a free listen port for each, and a forwarder to each port that the
// test can cut and heal (a partition). The forwarders are closed by t.teardown, pass or fail.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { type Forwarder, startForwarder } from './tcp-forwarder.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface GossipPair {
  /** `<dir>/gossip.secret`, 48 random bytes as hex, mode 600. */
  readonly secretFile: string;
  /** Where host a listens; b dials `toA.port`. */
  readonly portA: number;
  readonly portB: number;
  /** Forwards to portA (b's way to a) and to portB (a's way to b). */
  readonly toA: Forwarder;
  readonly toB: Forwarder;
}

export async function gossipPair(t: Teardown, dir: string): Promise<GossipPair> {
  const secretFile = join(dir, 'gossip.secret');
  writeFileSync(secretFile, randomBytes(48).toString('hex'), { mode: 0o600 });
  const [portA, portB] = [await freePort(), await freePort()];
  const toB = await startForwarder(portB);
  const toA = await startForwarder(portA);
  t.teardown(() => Promise.all([toA.close(), toB.close()]));
  return { secretFile, portA, portB, toA, toB };
}
