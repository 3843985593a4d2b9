import { resolve } from 'node:path';
import t from 'tap';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig, nodeIdFromHostname, parseConfig } from '../../../src/config/load.js';

const BASE = '/etc/vpc-peerd';
/** Gossip must authenticate; cases that turn gossip on add this so only their key is wrong. */
const withSecret = { secretFile: 'gossip.key' };

/** The ConfigError `fn` throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

t.test('an empty file gives the production defaults of SPEC §11', (t) => {
  const c = parseConfig({}, BASE);
  t.same(c.socket, {
    path: '/run/vpc-peerd/vpc-peerd.sock', mode: 0o660, group: null, maxLineBytes: 1048576, maxBatchSize: 100, maxConnections: 256,
    reservedConnections: 8, idleTimeoutMs: 60_000, lineTimeoutMs: 10_000, maxBufferedBytes: 64 * 1024 * 1024,
  });
  t.same(c.store, { path: '/var/lib/vpc-peerd/state.json', compactAfterBytes: 4 * 1024 * 1024 });
  t.same(c.ovs, { enabled: 'auto', rundir: '/var/run/openvswitch', cookie: 0x5ee0, reconcileIntervalMs: 5000 });
  t.same(c.peering, { pendingTtlSeconds: 604800, terminalRetentionSeconds: 86400, maxActivePerVpc: 125, sweepIntervalMs: 10000 });
  t.same(c.auth, { jwtSecretFile: null, jwtPublicKeyFile: null, adminTokenFile: '/run/vpc-peerd/admin.token', adminTokenTtlSeconds: 86400 * 30,
    maxTokenLifetimeSeconds: 86400 * 30, clockSkewSeconds: 30,
  });
  t.same(c.gossip, { listen: null, peers: [], secretFile: null, tls: null, antiEntropyIntervalMs: 2000, tombstoneRetentionSeconds: 604800 });
  t.same(c.log, { level: 'info' });
  t.match(c.nodeId, /^[A-Za-z0-9._-]{1,64}$/, 'nodeId defaults to a sanitised host name');
  t.end();
});

t.test('a section given in part keeps the defaults of its other keys', (t) => {
  const c = parseConfig({ socket: { maxLineBytes: 2048 } }, BASE);
  t.equal(c.socket.maxLineBytes, 2048);
  t.equal(c.socket.maxBatchSize, 100);
  t.end();
});

t.test('relative paths resolve against the config folder; absolute ones stay', (t) => {
  const c = parseConfig(
    {
      socket: { path: './var/s.sock' },
      store: { path: 'var/state.json' },
      ovs: { rundir: '../ovs' },
      auth: { jwtSecretFile: 'jwt.secret', jwtPublicKeyFile: '/keys/jwt.pem', adminTokenFile: './var/admin.token' },
      gossip: { secretFile: 'gossip.key', tls: { certFile: 'tls/c.pem', keyFile: 'tls/k.pem', caFile: '/ca.pem' } },
    },
    BASE,
  );
  t.equal(c.socket.path, '/etc/vpc-peerd/var/s.sock');
  t.equal(c.store.path, '/etc/vpc-peerd/var/state.json');
  t.equal(c.ovs.rundir, '/etc/ovs');
  t.equal(c.auth.jwtSecretFile, '/etc/vpc-peerd/jwt.secret');
  t.equal(c.auth.jwtPublicKeyFile, '/keys/jwt.pem');
  t.equal(c.auth.adminTokenFile, '/etc/vpc-peerd/var/admin.token');
  t.equal(c.gossip.secretFile, '/etc/vpc-peerd/gossip.key');
  t.same(c.gossip.tls, { certFile: '/etc/vpc-peerd/tls/c.pem', keyFile: '/etc/vpc-peerd/tls/k.pem', caFile: '/ca.pem' });
  t.end();
});

t.test('derived values: mode and cookie as numbers, listen split', (t) => {
  const c = parseConfig(
    { socket: { mode: '0600', group: 'vpc' }, ovs: { cookie: '0xABC', enabled: false }, gossip: { listen: '[::1]:0', ...withSecret } },
    BASE,
  );
  t.equal(c.socket.mode, 0o600);
  t.equal(c.socket.group, 'vpc');
  t.equal(c.ovs.cookie, 0xabc);
  t.equal(c.ovs.enabled, false);
  t.same(c.gossip.listen, { host: '::1', port: 0 });
  t.same(parseConfig({ gossip: { listen: '10.0.0.1:7946', ...withSecret } }, BASE).gossip.listen, { host: '10.0.0.1', port: 7946 });
  t.same(
    parseConfig({ gossip: { peers: ['ws://hv-02.example:7946/gossip', 'ws://10.0.0.3:7946'], ...withSecret } }, BASE).gossip.peers,
    ['ws://hv-02.example:7946/gossip', 'ws://10.0.0.3:7946'],
  );
  t.same(
    parseConfig({ gossip: { peers: ['wss://hv-02.example:7946'], tls: { certFile: 'c', keyFile: 'k', caFile: 'a' }, ...withSecret } }, BASE).gossip.peers,
    ['wss://hv-02.example:7946'],
  );
  t.end();
});

const badValues: [key: string, json: unknown][] = [
  ['', []],
  ['', 'config'],
  ['nodeId', { nodeId: 'has space' }],
  ['nodeId', { nodeId: 'x'.repeat(65) }],
  ['socket', { socket: 5 }],
  ['socket.path', { socket: { path: '' } }],
  ['socket.mode', { socket: { mode: 432 } }],
  ['socket.mode', { socket: { mode: '660' } }],
  ['socket.mode', { socket: { mode: '04755' } }],
  ['socket.group', { socket: { group: 5 } }],
  ['socket.group', { socket: { group: 'a b' } }],
  ['socket.maxLineBytes', { socket: { maxLineBytes: 'big' } }],
  ['socket.maxLineBytes', { socket: { maxLineBytes: 100 } }],
  ['socket.maxBatchSize', { socket: { maxBatchSize: 0 } }],
  ['socket.maxConnections', { socket: { maxConnections: 2.5 } }],
  ['socket.reservedConnections', { socket: { maxConnections: 8, reservedConnections: 8 } }],
  ['socket.idleTimeoutMs', { socket: { idleTimeoutMs: 0 } }],
  ['socket.lineTimeoutMs', { socket: { lineTimeoutMs: 'soon' } }],
  ['socket.maxBufferedBytes', { socket: { maxLineBytes: 4096, maxBufferedBytes: 2048 } }],
  ['store.path', { store: { path: 3 } }],
  ['store.compactAfterBytes', { store: { compactAfterBytes: -1 } }],
  ['ovs.enabled', { ovs: { enabled: 'yes' } }],
  ['ovs.rundir', { ovs: { rundir: null } }],
  ['ovs.cookie', { ovs: { cookie: '0x12345' } }],
  ['ovs.cookie', { ovs: { cookie: '0x0' } }],
  ['ovs.cookie', { ovs: { cookie: '5ee0' } }],
  ['ovs.cookie', { ovs: { cookie: 0x5ee0 } }],
  ['ovs.reconcileIntervalMs', { ovs: { reconcileIntervalMs: 1.5 } }],
  ['peering.pendingTtlSeconds', { peering: { pendingTtlSeconds: 0 } }],
  ['peering.terminalRetentionSeconds', { peering: { terminalRetentionSeconds: '1d' } }],
  ['peering.maxActivePerVpc', { peering: { maxActivePerVpc: -1 } }],
  ['peering.sweepIntervalMs', { peering: { sweepIntervalMs: 1e12 } }],
  ['auth.jwtSecretFile', { auth: { jwtSecretFile: 42 } }],
  ['auth.jwtPublicKeyFile', { auth: { jwtPublicKeyFile: 'a\0b' } }],
  ['auth.adminTokenFile', { auth: { adminTokenFile: null } }],
  ['auth.adminTokenTtlSeconds', { auth: { adminTokenTtlSeconds: 0 } }],
  ['auth.adminTokenTtlSeconds', { auth: { adminTokenTtlSeconds: 7200, maxTokenLifetimeSeconds: 3600 } }],
  ['auth.maxTokenLifetimeSeconds', { auth: { maxTokenLifetimeSeconds: 10, adminTokenTtlSeconds: 5 } }],
  ['auth.clockSkewSeconds', { auth: { clockSkewSeconds: -1 } }],
  ['gossip.listen', { gossip: { listen: 'nohost', ...withSecret } }],
  ['gossip.listen', { gossip: { listen: 'host:70000', ...withSecret } }],
  ['gossip.listen', { gossip: { listen: '[not-v6]:1', ...withSecret } }],
  ['gossip.peers', { gossip: { peers: 'ws://a:1', ...withSecret } }],
  ['gossip.peers[1]', { gossip: { peers: ['ws://a:1', 'http://b:1'], ...withSecret } }],
  ['gossip.peers[0]', { gossip: { peers: ['ws://user:pw@a:1'], ...withSecret } }],
  ['gossip.peers[0]', { gossip: { peers: ['ws://a:1/#x'], ...withSecret } }],
  ['gossip.peers[1]', { gossip: { peers: ['ws://a:1', 'ws://a:1'], ...withSecret } }],
  ['gossip.secretFile', { gossip: { listen: '0.0.0.0:7946' } }],
  ['gossip.secretFile', { gossip: { peers: ['ws://a:1'] } }],
  ['gossip.secretFile', { gossip: { peers: ['wss://a:1'], tls: { certFile: 'c', keyFile: 'k', caFile: 'a' } } }],
  ['gossip.peers[1]', { gossip: { peers: ['wss://a:1', 'ws://b:1'], tls: { certFile: 'c', keyFile: 'k', caFile: 'a' }, ...withSecret } }],
  ['gossip.peers[0]', { gossip: { peers: ['wss://a:1'], ...withSecret } }],
  ['gossip.antiEntropyIntervalMs', { gossip: { antiEntropyIntervalMs: 10 } }],
  ['gossip.tls', { gossip: { tls: 'yes' } }],
  ['gossip.tls.caFile', { gossip: { tls: { certFile: 'c', keyFile: 'k' } } }],
  ['log.level', { log: { level: 'verbose' } }],
];

t.test('gossip.peers: the same peer spelled another way is refused as a duplicate, naming both keys', (t) => {
  const spellings: [first: string, again: string][] = [
    ['ws://127.0.0.1:7000', 'ws://127.0.0.1:7000'],
    ['ws://127.0.0.1:7000', 'ws://127.0.0.1:7000/'],
    ['ws://127.0.0.1:7000', 'WS://127.0.0.1:7000'],
    ['ws://hv-02.example:7946', 'ws://HV-02.Example:7946/'],
    ['ws://hv-02.example', 'ws://hv-02.example:80'],
    ['wss://hv-02.example/', 'wss://hv-02.example:443'],
    ['ws://[::1]:7000', 'ws://[0:0:0:0:0:0:0:1]:7000/'],
    ['ws://127.0.0.1:7000', 'ws://127.0.0.1:7000/#'],
    ['ws://127.0.0.1:7000', 'ws://[::ffff:127.0.0.1]:7000'],
  ];
  for (const [first, again] of spellings) {
    const secure = first.startsWith('wss:');
    const gossip = { peers: [secure ? 'wss://10.0.0.9:1' : 'ws://10.0.0.9:1', first, again], ...(secure ? { tls: { certFile: 'c', keyFile: 'k', caFile: 'a' } } : {}), ...withSecret };
    const err = configError(() => parseConfig({ gossip }, BASE, 'cfg.json'));
    t.same(err.issues.map((i) => i.key), ['gossip.peers[2]'], `${first} then ${again}`);
    t.match(err.message, /^cfg\.json: gossip\.peers\[2\]: is the same peer as gossip\.peers\[1\] /, err.message);
  }
  // Different peers, and how a valid URL is written stays as written (it is what is dialled).
  const distinct = ['ws://127.0.0.1:7000', 'ws://127.0.0.1:7001', 'ws://127.0.0.1:7000/gossip', 'ws://127.0.0.2:7000', 'ws://127.0.0.1:7000/?a=1'];
  t.same(parseConfig({ gossip: { peers: distinct, ...withSecret } }, BASE).gossip.peers, distinct);
  t.end();
});

t.test("gossip.peers: this daemon's own gossip.listen is refused (it would dial itself)", (t) => {
  const own: [listen: string, peer: string][] = [
    ['127.0.0.1:7000', 'ws://127.0.0.1:7000'],
    ['127.0.0.1:7000', 'ws://[::ffff:127.0.0.1]:7000/'],
    ['0.0.0.0:7000', 'ws://127.0.0.2:7000'],
    ['[::]:7000', 'ws://[::1]:7000'],
    ['10.0.0.5:80', 'ws://10.0.0.5'],
  ];
  for (const [listen, peer] of own) {
    const err = configError(() => parseConfig({ gossip: { listen, peers: ['ws://10.0.0.9:1', peer], ...withSecret } }, BASE, 'cfg.json'));
    t.same(err.issues.map((i) => i.key), ['gossip.peers[1]'], `${listen} and ${peer}`);
    t.match(err.message, /is this daemon's own gossip\.listen/);
  }
  // Another port, another address, a name (not resolved), or port 0 (not known until bound): allowed.
  for (const [listen, peer] of [['127.0.0.1:7000', 'ws://127.0.0.1:7001'], ['10.0.0.5:7000', 'ws://10.0.0.6:7000'], ['0.0.0.0:7000', 'ws://hv-1:7000'], ['127.0.0.1:0', 'ws://127.0.0.1:7000']]) {
    t.same(parseConfig({ gossip: { listen, peers: [peer], ...withSecret } }, BASE).gossip.peers, [peer], `${listen} and ${peer}`);
  }
  t.end();
});

t.test('each kind of bad value is refused, naming its key', (t) => {
  for (const [key, json] of badValues) {
    const err = configError(() => parseConfig(json, BASE, 'cfg.json'));
    t.same(err.issues.map((i) => i.key), [key], `${JSON.stringify(json)} → ${key}`);
    t.ok(err.message.startsWith(key === '' ? 'cfg.json: ' : `cfg.json: ${key}: `), err.message);
  }
  t.end();
});

t.test('the message says what was found', (t) => {
  const err = configError(() => parseConfig({ socket: { maxLineBytes: 'big' } }, BASE, 'config.json'));
  t.match(err.message, /^config\.json: socket\.maxLineBytes: .*\(got "big"\)$/);
  t.end();
});

t.test('every problem of the file is reported at once', (t) => {
  const err = configError(() => parseConfig({ log: { level: 'loud' }, ovs: { cookie: 'x' } }, BASE));
  t.same(err.issues.map((i) => i.key).sort(), ['log.level', 'ovs.cookie']);
  t.equal(err.message.split('\n').length, 2);
  t.end();
});

t.test('unknown keys are refused (typo protection), at any depth', (t) => {
  t.same(configError(() => parseConfig({ sockets: {} }, BASE)).issues.map((i) => i.key), ['sockets']);
  t.same(configError(() => parseConfig({ socket: { maxLineByte: 1 } }, BASE)).issues.map((i) => i.key), ['socket.maxLineByte']);
  const tls = { certFile: 'c', keyFile: 'k', caFile: 'a', ca: 'x' };
  t.same(configError(() => parseConfig({ gossip: { tls, ...withSecret } }, BASE)).issues.map((i) => i.key), ['gossip.tls.ca']);
  t.end();
});

t.test('a socket path longer than the kernel allows is refused once resolved', (t) => {
  const err = configError(() => parseConfig({ socket: { path: 's.sock' } }, '/' + 'd'.repeat(110)));
  t.same(err.issues.map((i) => i.key), ['socket.path']);
  t.end();
});

t.test('loadConfig reads a file and resolves against its folder', async (t) => {
  const dir = t.testdir({ 'config.json': '\uFEFF' + JSON.stringify({ store: { path: 'state.json' } }) });
  const c = await loadConfig(`${dir}/config.json`);
  t.equal(c.store.path, resolve(dir, 'state.json'));
});

t.test('loadConfig refuses an unreadable file, invalid JSON and a bad value with clear errors', async (t) => {
  const dir = t.testdir({ 'bad.json': '{ "socket": ', 'worse.json': JSON.stringify({ log: { level: 1 } }) });
  const missing = await loadConfig(`${dir}/missing.json`).catch((e: unknown) => e);
  t.type(missing, ConfigError);
  t.match((missing as Error).message, /missing\.json: cannot read the file/);
  const bad = await loadConfig(`${dir}/bad.json`).catch((e: unknown) => e);
  t.type(bad, ConfigError);
  t.match((bad as Error).message, /bad\.json: not valid JSON/);
  const worse = await loadConfig(`${dir}/worse.json`).catch((e: unknown) => e);
  t.same((worse as ConfigError).issues.map((i) => i.key), ['log.level']);
  t.match((worse as Error).message, /worse\.json: log\.level: /);
});

t.test('nodeIdFromHostname fits any host name to the nodeId pattern', (t) => {
  t.equal(nodeIdFromHostname('hv-01.dc1.example'), 'hv-01.dc1.example');
  t.equal(nodeIdFromHostname('höst name'), 'h-st-name');
  t.equal(nodeIdFromHostname('x'.repeat(100)), 'x'.repeat(64));
  t.equal(nodeIdFromHostname(''), 'node');
  t.end();
});
