// Fuzz of the OVSDB client's pure layers, as the connection chains them: bytes → framing →
// message validation → monitor cache → topology. Random bytes, random JSON and the captured
// streams mutated byte by byte never throw anything but OvsdbProtocolError (or, for rows that
// do not hold together, OvsError 'bad-output' from the topology).
import fc from 'fast-check';
import t from 'tap';
import { OvsdbProtocolError } from '../../../../src/ovs/ovsdb/errors.js';
import { JsonTextSplitter } from '../../../../src/ovs/ovsdb/framing.js';
import { parseIncoming } from '../../../../src/ovs/ovsdb/messages.js';
import { MonitorCache } from '../../../../src/ovs/ovsdb/monitor-cache.js';
import { OvsError } from '../../../../src/ovs/runner.js';
import { topologyFromRows } from '../../../../src/ovs/topology-parser.js';
import { holds } from '../../../helpers/property.js';
import { initialRows, stream, STREAMS } from '../../../helpers/ovsdb-wire.js';

/** Runs bytes through the layers the way client.ts does; true unless something untyped was thrown. */
function survives(bytes: Buffer, seeded: boolean): boolean {
  const cache = new MonitorCache();
  if (seeded) cache.replace(initialRows());
  try {
    for (const text of new JsonTextSplitter({ maxMessageBytes: 1 << 16 }).push(bytes)) {
      const msg = parseIncoming(text);
      if (msg.kind === 'update') cache.apply(msg.updates);
      else if (msg.kind === 'reply' && typeof msg.result === 'object') cache.replace(msg.result);
      topologyFromRows(cache.rows);
    }
    return true;
  } catch (err) {
    return err instanceof OvsdbProtocolError || (err instanceof OvsError && err.kind === 'bad-output');
  }
}

const all = Buffer.concat(STREAMS.map(stream));

t.test('random bytes', (t) => {
  holds(t, 'only typed errors', fc.property(fc.uint8Array({ maxLength: 512 }), fc.boolean(), (b, seeded) => survives(Buffer.from(b), seeded)), 5_000);
  t.end();
});

t.test('random JSON objects, and JSON-RPC-shaped ones with random params', (t) => {
  const rpc = fc.record({ id: fc.oneof(fc.constant(null), fc.nat(), fc.string()), method: fc.constantFrom('update', 'echo', 'x'), params: fc.array(fc.jsonValue(), { maxLength: 3 }) });
  const updateOf = fc.record({ id: fc.constant(null), method: fc.constant('update'), params: fc.tuple(fc.constant('vpc-peerd'), fc.dictionary(fc.constantFrom('Bridge', 'Port', 'Interface', 'Open_vSwitch', 'X'), fc.jsonValue())) });
  const text = fc.oneof(fc.object(), rpc, updateOf).map((o) => JSON.stringify(o));
  holds(t, 'only typed errors', fc.property(fc.array(text, { maxLength: 5 }), fc.boolean(), (texts, seeded) => survives(Buffer.from(texts.join('')), seeded)), 5_000);
  t.end();
});

t.test('the captured streams, mutated', (t) => {
  const mutated = fc.array(fc.tuple(fc.nat(all.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => {
    const b = Buffer.from(all);
    for (const [at, byte] of edits) b[at] = byte;
    return b;
  });
  holds(t, 'only typed errors', fc.property(mutated, fc.boolean(), (b, seeded) => survives(b, seeded)), 5_000);
  t.ok(survives(all, false), 'and the streams themselves');
  t.end();
});
