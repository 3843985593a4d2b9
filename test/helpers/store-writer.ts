// The child of the kill -9 test: opens the store at argv[2] and commits new peerings for ever,
// several in flight, printing each peering's number the moment its commit is acknowledged.
// Numbers start at argv[3], so successive runs on one store never reuse an id. A small
// compactAfterBytes makes compactions frequent, so kills land in them too.
import { silentLogger } from '../../src/log/logger.js';
import { openStore } from '../../src/store/open-store.js';
import { putPeering, putVpc } from './store-records.js';

const [path, first] = process.argv.slice(2);
if (!path || !first) throw new Error('usage: store-writer PATH FIRST-NUMBER');
const { store } = await openStore({ nodeId: 'hv-01', path, logger: silentLogger(), compactAfterBytes: 16 * 1024 });
if (!store.view.getVpc('a')) await store.commit([putVpc('a'), putVpc('b')]);

let next = Number(first);
async function writer(): Promise<never> {
  for (;;) {
    const n = next++;
    await store.commit([putPeering(n)]);
    process.stdout.write(`${n}\n`);
  }
}
process.stdout.write('ready\n');
await Promise.all(Array.from({ length: 8 }, writer));
