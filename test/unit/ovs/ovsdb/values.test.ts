// The one decoder of OVSDB values (src/ovs/ovsdb/values.ts), RFC 7047 §5.1: what each accepts,
// and that everything else is OvsdbProtocolError 'bad-value'.
import t from 'tap';
import { OvsdbProtocolError } from '../../../../src/ovs/ovsdb/errors.js';
import { integerValue, mapOf, namedUuid, optionalOf, setOf, stringValue, uuidValue } from '../../../../src/ovs/ovsdb/values.js';

const U = '37dd21db-d2f9-46bd-b919-92f7b15aaa19';
const V = '4bcc4b99-43ed-45ce-97a8-d592410229f9';

t.test('accepted', (t) => {
  t.equal(uuidValue(['uuid', U], 'x'), U);
  t.same(setOf(uuidValue)(['set', [['uuid', U], ['uuid', V]]], 'x'), [U, V]);
  t.same(setOf(uuidValue)(['uuid', U], 'x'), [U], 'a set of one as its element');
  t.same(setOf(uuidValue)(['set', []], 'x'), []);
  t.equal(optionalOf(integerValue)(['set', []], 'x'), null, 'the empty set');
  t.equal(optionalOf(integerValue)(7, 'x'), 7);
  t.equal(optionalOf(integerValue)(['set', [7]], 'x'), 7, 'a one-element set');
  t.same(mapOf(stringValue, stringValue)(['map', [['peer', 'p'], ['x', 'y']]], 'x'), new Map([['peer', 'p'], ['x', 'y']]));
  t.same(mapOf(stringValue, stringValue)(['map', []], 'x'), new Map());
  t.same(namedUuid('iface0'), ['named-uuid', 'iface0']);
  t.throws(() => namedUuid('0bad'), 'a named-uuid must be an <id> (misuse: a plain Error)');
  t.end();
});

t.test('refused: bad-value', (t) => {
  const cases: [() => unknown, string][] = [
    [() => uuidValue(['uuid', 'XXXX'], 'x'), 'a bad uuid'],
    [() => uuidValue(U, 'x'), 'a bare string'],
    [() => uuidValue(['named-uuid', 'a'], 'x'), 'a named-uuid'],
    [() => integerValue(1.5, 'x'), 'a real'],
    [() => integerValue('1', 'x'), 'a string number'],
    [() => integerValue(2 ** 60, 'x'), 'beyond a safe integer'],
    [() => stringValue(null, 'x'), 'null'],
    [() => optionalOf(integerValue)(['set', [1, 2]], 'x'), 'two values in an optional'],
    [() => setOf(uuidValue)(['set', [['uuid', U], 3]], 'x'), 'a bad element'],
    [() => setOf(uuidValue)(['set'], 'x'), 'a set without elements'],
    [() => mapOf(stringValue, stringValue)(['map', [['a']]], 'x'), 'a short pair'],
    [() => mapOf(stringValue, stringValue)(['map', [['a', 'b'], ['a', 'c']]], 'x'), 'a repeated key'],
    [() => mapOf(stringValue, stringValue)(['map', [['a', 1]]], 'x'), 'a value of the wrong type'],
    [() => mapOf(stringValue, stringValue)(['set', []], 'x'), 'a set for a map'],
  ];
  for (const [fn, what] of cases) {
    try {
      fn();
      t.fail(`${what}: accepted`);
    } catch (err) {
      t.ok(err instanceof OvsdbProtocolError && err.code === 'bad-value', what);
    }
  }
  t.end();
});
