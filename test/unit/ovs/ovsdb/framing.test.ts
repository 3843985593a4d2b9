// The OVSDB stream framing (src/ovs/ovsdb/framing.ts) against the streams captured from
// ovsdb-server and hand-made edge cases: any split of a stream into chunks gives the same texts;
// what is not a stream of JSON objects, or a text over the cap, is OvsdbProtocolError, for good.
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { OvsdbProtocolError } from '../../../../src/ovs/ovsdb/errors.js';
import { JsonTextSplitter } from '../../../../src/ovs/ovsdb/framing.js';
import { holds } from '../../../helpers/property.js';
import { stream, STREAMS, texts } from '../../../helpers/ovsdb-wire.js';

/** Feeds `bytes` cut at `cuts` (offsets); all texts out, in order. */
function split(bytes: Buffer, cuts: readonly number[], max?: number): object[] {
  const s = new JsonTextSplitter(max === undefined ? {} : { maxMessageBytes: max });
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: object[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    out.push(...s.push(bytes.subarray(from, c)));
    from = c;
  }
  return out;
}

function refused(t: Test, fn: () => unknown, code: OvsdbProtocolError['code'], what: string): void {
  try {
    fn();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.ok(err instanceof OvsdbProtocolError && err.code === code, `${what}: ${code}`);
  }
}

t.test('the captured streams: every text, in order, each an object', (t) => {
  t.equal(texts('transact-applied').length, 3, 'an update, the reply, vswitchd\'s update: back to back');
  t.same(texts('transact-applied').map((m) => ('method' in m ? m.method : m.id)), ['update', 2, 'update']);
  const all = Buffer.concat(STREAMS.map(stream));
  t.same(new JsonTextSplitter().push(all), STREAMS.flatMap(texts), 'all the streams as one');
  t.end();
});

t.test('any split of a stream into chunks gives the same texts', (t) => {
  const all = Buffer.concat(STREAMS.map(stream));
  const want = new JsonTextSplitter().push(all);
  holds(t, 'chunking does not matter', fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => JSON.stringify(split(all, cuts)) === JSON.stringify(want)), 300);
  t.same(split(all, Array.from({ length: all.length }, (_, i) => i)), want, 'one byte at a time');
  t.end();
});

t.test('strings: braces, escaped quotes and backslashes, multi-byte characters split across chunks', (t) => {
  const msgs = [{ a: '}{"\\' }, { b: 'é}—😀', c: ['{', '}'] }, { d: '\\\\"}' }];
  const bytes = Buffer.from(msgs.map((m) => JSON.stringify(m)).join(' \n\t\r'));
  for (let cut = 0; cut <= bytes.length; cut++) t.same(split(bytes, [cut]), msgs, `cut at ${cut}`);
  holds(t, 'generated objects, any chunks', fc.property(fc.array(fc.object(), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 10 }), (objs, cuts) => {
    const b = Buffer.from(objs.map((o) => JSON.stringify(o)).join(''));
    return JSON.stringify(split(b, cuts)) === JSON.stringify(objs);
  }), 300);
  t.end();
});

t.test('what is not a stream of objects is refused, and the splitter stays failed', (t) => {
  for (const [text, what] of [
    ['[1,2]', 'an array'],
    ['42', 'a number'],
    ['"x"', 'a string'],
    ['{"a":1}x', 'garbage after a text'],
    ['{"a":}', 'an object that does not parse'],
    ['{"a":[}', 'unbalanced brackets'],
    ['{"a":1} }', 'a stray closing brace'],
  ] as const) {
    refused(t, () => new JsonTextSplitter().push(Buffer.from(text)), 'not-json', what);
  }
  const s = new JsonTextSplitter();
  refused(t, () => s.push(Buffer.from('x')), 'not-json', 'once');
  refused(t, () => s.push(Buffer.from('{"a":1}')), 'not-json', 'and every time after');
  t.end();
});

t.test('a text over the cap is frame-too-large, whole or in pieces; at the cap it passes', (t) => {
  const text = Buffer.from(JSON.stringify({ pad: 'x'.repeat(100) }));
  t.same(split(text, [], text.length), [{ pad: 'x'.repeat(100) }], 'exactly the cap');
  refused(t, () => split(text, [], text.length - 1), 'frame-too-large', 'one byte over');
  refused(t, () => split(text, [10, 20, 30], 50), 'frame-too-large', 'in pieces');
  const s = new JsonTextSplitter({ maxMessageBytes: 50 });
  s.push(Buffer.from('{"a":"' + 'y'.repeat(40)));
  t.equal(s.buffered, 46, 'what waits is counted');
  refused(t, () => s.push(Buffer.from('y'.repeat(10))), 'frame-too-large', 'an unfinished text that outgrows the cap');
  t.end();
});
