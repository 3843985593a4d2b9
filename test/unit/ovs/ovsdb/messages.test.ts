// Message validation at the boundary (src/ovs/ovsdb/messages.ts): every text ovsdb-server sent in
// the captures is a reply, an update or an echo; anything else is OvsdbProtocolError 'bad-message'.
import t from 'tap';
import { OvsdbProtocolError } from '../../../../src/ovs/ovsdb/errors.js';
import { echoReplyText, errorText, parseIncoming, requestText } from '../../../../src/ovs/ovsdb/messages.js';
import { STREAMS, texts } from '../../../helpers/ovsdb-wire.js';

t.test('the captured texts: replies by id, updates of our monitor', (t) => {
  const kinds = STREAMS.flatMap(texts).map((m) => parseIncoming(m));
  t.ok(kinds.every((k) => k.kind === 'reply' || k.kind === 'update'), 'replies and updates only');
  t.match(parseIncoming(texts('echo-reply')[0] as object), { kind: 'reply', id: 6, result: ['sync'], error: null });
  t.match(parseIncoming(texts('rpc-error')[0] as object), { kind: 'reply', id: 5, error: { error: 'unknown database' } });
  t.equal(errorText((parseIncoming(texts('rpc-error')[0] as object) as { error: unknown }).error), 'unknown database: transact request specifies unknown database Nope');
  const update = parseIncoming(texts('update-vswitchd-down')[0] as object);
  t.match(update, { kind: 'update', monitorId: 'vpc-peerd' });
  t.end();
});

t.test("the server's echo request (RFC 7047 §4.1.11), answered with its params", (t) => {
  const echo = parseIncoming({ id: 'echo', method: 'echo', params: [] });
  t.same(echo, { kind: 'echo', id: 'echo', params: [] });
  t.same(JSON.parse(echoReplyText('echo', ['x'])), { id: 'echo', result: ['x'], error: null });
  t.same(JSON.parse(requestText(7, 'transact', ['Open_vSwitch'])), { id: 7, method: 'transact', params: ['Open_vSwitch'] });
  t.end();
});

t.test('anything else is bad-message', (t) => {
  const cases: [unknown, string][] = [
    [{}, 'an empty object'],
    [{ id: 'x', result: 1, error: null }, 'a reply with a string id (never ours)'],
    [{ id: 1.5, result: 1 }, 'a fractional id'],
    [{ id: 1 }, 'neither result nor error'],
    [{ id: null, method: 'update', params: ['m'] }, 'an update without table-updates'],
    [{ id: null, method: 'update', params: ['m', []] }, 'table-updates that are an array'],
    [{ id: 3, method: 'update', params: ['m', {}] }, 'an update as a request'],
    [{ id: null, method: 'echo', params: [] }, 'an echo notification'],
    [{ id: 1, method: 'echo' }, 'an echo without params'],
    [{ id: 1, method: 'lock', params: ['x'] }, 'a method not served'],
    [{ id: null, method: 'update2', params: ['m', {}] }, 'update2 (never asked for)'],
  ];
  for (const [msg, what] of cases) {
    try {
      parseIncoming(msg as object);
      t.fail(`${what}: accepted`);
    } catch (err) {
      t.ok(err instanceof OvsdbProtocolError && err.code === 'bad-message', what);
    }
  }
  t.end();
});
