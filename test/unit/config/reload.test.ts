import t from 'tap';
import { parseConfig } from '../../../src/config/load.js';
import { changedKeys, planReload } from '../../../src/config/reload.js';

t.test('changedKeys', (t) => {
  t.same(changedKeys({ a: { b: 1, c: [1] } }, { a: { b: 1, c: [1] } }), []);
  t.same(changedKeys({ a: { b: 1, c: [1] } }, { a: { b: 2, c: [1, 2] } }), ['a.b', 'a.c']);
  t.same(changedKeys({ a: null }, { a: { x: 1 } }), ['a']);
  t.end();
});

t.test('planReload: all or nothing', (t) => {
  const running = parseConfig({ nodeId: 'n', gossip: { secretFile: '/s' } }, '/etc');
  t.same(planReload(running, running), { changed: [], refused: [] });
  const reloadable = parseConfig(
    {
      nodeId: 'n',
      log: { level: 'debug' },
      ovs: { reconcileIntervalMs: 1000 },
      peering: { sweepIntervalMs: 500, maxActivePerVpc: 3 },
      gossip: { secretFile: '/s', peers: ['ws://10.0.0.2:7946'] },
    },
    '/etc',
  );
  t.same(planReload(running, reloadable), {
    changed: ['gossip.peers', 'log.level', 'ovs.reconcileIntervalMs', 'peering.maxActivePerVpc', 'peering.sweepIntervalMs'],
    refused: [],
  });
  const mixed = parseConfig({ nodeId: 'n', log: { level: 'debug' }, socket: { path: '/run/x.sock' }, store: { path: '/var/x.json' }, gossip: { secretFile: '/s' } }, '/etc');
  t.same(planReload(running, mixed).refused, ['socket.path', 'store.path']);
  t.same(planReload(running, parseConfig({ nodeId: 'n', gossip: { secretFile: '/s' }, metrics: { listen: '127.0.0.1:9464' } }, '/etc')).refused, ['metrics.listen']);
  const listening = parseConfig({ nodeId: 'n', gossip: { secretFile: '/s', listen: '127.0.0.1:7946' } }, '/etc');
  const moved = parseConfig({ nodeId: 'n', gossip: { secretFile: '/s', listen: '0.0.0.0:7947' } }, '/etc');
  t.same(planReload(listening, moved).refused, ['gossip.listen'], 'the key as written, once, not gossip.listen.host and .port');
  t.end();
});

t.test('metrics.listen: loopback only', (t) => {
  const listen = (value: string): unknown => parseConfig({ metrics: { listen: value } }, '/').metrics.listen;
  t.same(listen('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  t.same(listen('127.3.2.1:0'), { host: '127.3.2.1', port: 0 });
  t.same(listen('[::1]:9464'), { host: '::1', port: 9464 });
  t.same(listen('[0:0:0:0:0:0:0:1]:9464'), { host: '0:0:0:0:0:0:0:1', port: 9464 });
  for (const bad of ['0.0.0.0:9464', '10.0.0.1:9464', '[::]:9464', 'localhost:9464', '127.0.0.1', '127.0.0.1:70000']) {
    let err: unknown;
    try {
      listen(bad);
    } catch (e) {
      err = e;
    }
    t.match(err, { issues: [{ key: 'metrics.listen' }] }, bad);
  }
  t.equal(parseConfig({}, '/').metrics.listen, null, 'off by default');
  t.end();
});
