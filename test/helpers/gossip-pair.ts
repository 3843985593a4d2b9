// The wiring of two gossiping daemons (test/integration/gossip-*.test.ts): one shared HMAC secret
// file, and a forwarder to each host that the test can cut and heal (a partition). The forwarders
// are made before the daemons and aimed once each host listens: start each with
// startGossipDaemon (it binds a port it picks) and call `toX.setTarget(x.gossipPort)`; a dial
// through a forwarder not aimed yet is refused, as one to a host not started. The forwarders are
// closed by t.teardown, pass or fail.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Forwarder, startForwarder } from './tcp-forwarder.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface GossipPair {
  /** `<dir>/gossip.secret`, 48 random bytes as hex, mode 600. */
  readonly secretFile: string;
  /** b's way to a (b dials `toA.port`) and a's way to b; aimed by the test (setTarget). */
  readonly toA: Forwarder;
  readonly toB: Forwarder;
}

export async function gossipPair(t: Teardown, dir: string): Promise<GossipPair> {
  const secretFile = join(dir, 'gossip.secret');
  writeFileSync(secretFile, randomBytes(48).toString('hex'), { mode: 0o600 });
  const toB = await startForwarder(null);
  const toA = await startForwarder(null);
  t.teardown(() => Promise.all([toA.close(), toB.close()]));
  return { secretFile, toA, toB };
}
