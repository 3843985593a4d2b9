import fc from 'fast-check';
import t from 'tap';
import { TOP_LEVEL, scanJson } from '../../../src/rpc/json-scan.js';
import { holds } from '../../helpers/property.js';

t.test('depth: counts arrays and objects, not brackets inside strings', async (t) => {
  const cases: [string, number][] = [
    ['1', 0],
    ['{}', 1],
    ['[[]]', 2],
    ['{"a":[{"b":[1]}]}', 4],
    ['"[[[[[[[["', 0],
    ['{"k\\"[[[":"\\\\"}', 1],
    ['[1,[2,[3]],{"x":{}}]', 3],
  ];
  for (const [text, depth] of cases) {
    const scan = scanJson(text, 8);
    t.equal(scan.depth, depth, text);
    t.equal(scan.tooDeep, false, text);
  }
});

t.test('tooDeep: stops at the first level past the bound, whatever follows', async (t) => {
  const deep = '['.repeat(1_000_000);
  const started = performance.now();
  const scan = scanJson(deep, 16);
  t.equal(scan.tooDeep, true);
  t.equal(scan.depth, 17, 'counted one past the bound and stopped');
  t.ok(performance.now() - started < 50, 'cheap');
  t.equal(scanJson(`${'['.repeat(16)}${']'.repeat(16)}`, 16).tooDeep, false, 'exactly the bound is accepted');
  t.equal(scanJson(`{"a":${'{"b":'.repeat(16)}1${'}'.repeat(17)}`, 16).tooDeep, true, 'objects count too');
});

t.test('numeric ids: the source text of the top-level id, or of each batch element', async (t) => {
  t.same([...scanJson('{"jsonrpc":"2.0","id":9007199254740993,"method":"m"}', 16).numericIds], [[TOP_LEVEL, '9007199254740993']]);
  t.same([...scanJson('{ "id" : -12.50e+3 }', 16).numericIds], [[TOP_LEVEL, '-12.50e+3']], 'spaces, sign, fraction, exponent');
  t.same([...scanJson('{"params":{"id":5},"id":"s"}', 16).numericIds], [], 'a nested id is not the request id; a string id needs no text');
  t.same([...scanJson('{"id":1,"id":"x"}', 16).numericIds], [], 'the last duplicate wins, as in JSON.parse');
  t.same([...scanJson('{"id":"x","id":2}', 16).numericIds], [[TOP_LEVEL, '2']]);
  t.same([...scanJson('{"id":1,"id":null}', 16).numericIds], []);
  t.same([...scanJson('{"\\u0069d":18446744073709551617}', 16).numericIds], [[TOP_LEVEL, '18446744073709551617']], 'an escaped key');
  t.same([...scanJson('{"x":"id","y":3}', 16).numericIds], [], 'a value "id" is not a key');
  t.same(
    [...scanJson('[{"id":1},{"id":"a"},{"x":[{"id":7}],"id":9007199254740995},5]', 16).numericIds],
    [
      [0, '1'],
      [2, '9007199254740995'],
    ],
  );
});

t.test('property: for any JSON text, ids agree with JSON.parse and depth is exact', async (t) => {
  const value = fc.jsonValue({ maxDepth: 5 });
  const request = fc.record({ id: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.constant(null)), other: value }, { requiredKeys: [] });
  const line = fc.oneof(request, fc.array(request, { maxLength: 4 }), value).map((v) => JSON.stringify(v));
  holds(
    t,
    'scanJson vs JSON.parse',
    fc.property(line, (text) => {
      const parsed: unknown = JSON.parse(text);
      const scan = scanJson(text, 64);
      if (depthOf(parsed) !== scan.depth) return false;
      const elements: [number, unknown][] = Array.isArray(parsed) ? parsed.map((e, i) => [i, e]) : [[TOP_LEVEL, parsed]];
      for (const [key, element] of elements) {
        const id = typeof element === 'object' && element !== null && !Array.isArray(element) ? (element as { id?: unknown }).id : undefined;
        const text = scan.numericIds.get(key);
        if (typeof id === 'number' ? text === undefined || Number(text) !== id : text !== undefined) return false;
      }
      return true;
    }),
    2000,
  );
});

function depthOf(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + Math.max(0, ...children.map(depthOf));
}
