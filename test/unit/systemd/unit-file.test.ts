// The shipped unit and production config: the unit passes `systemd-analyze verify` with no
// output at all (it exits 0 even on parse warnings), and the config is valid under the schema.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { configKeyPaths } from '../../../src/config/doc.js';
import { loadConfig } from '../../../src/config/load.js';
import { verifyUnit } from '../../helpers/systemd-analyze.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const UNIT = `${root}systemd/vpc-peerd.service`;

t.test('systemd-analyze verify prints nothing for the unit', async (t) => {
  // verify checks that ExecStart's program exists; /usr/bin/vpc-peerd exists only once
  // installed, so the check runs on a copy naming this node (install.test.ts verifies the
  // unit against an installed wrapper too).
  const unit = readFileSync(UNIT, 'utf8');
  t.match(unit, /^ExecStart=\/usr\/bin\/vpc-peerd --config \/etc\/vpc-peerd\/config\.json$/m);
  const { code, output } = await verifyUnit(unit.replace(/^ExecStart=\/usr\/bin\/vpc-peerd /m, `ExecStart=${process.execPath} `));
  t.equal(output, '', 'no output');
  t.equal(code, 0);
});

t.test('the check would catch a misspelt setting', async (t) => {
  const unit = readFileSync(UNIT, 'utf8').replace(/^ExecStart=\/usr\/bin\/vpc-peerd /m, `ExecStart=${process.execPath} `);
  const { output } = await verifyUnit(unit.replace('Type=notify', 'Type=notifyy'));
  t.not(output, '');
});

t.test('the unit has what SPEC §9 asks of it', (t) => {
  const unit = readFileSync(UNIT, 'utf8');
  for (const line of ['Type=notify', 'NotifyAccess=main', 'Restart=on-failure', 'RuntimeDirectory=vpc-peerd', 'StateDirectory=vpc-peerd', 'CapabilityBoundingSet=', 'NoNewPrivileges=yes', 'ProtectSystem=strict']) {
    t.match(unit, new RegExp(`^${line}$`, 'm'), line);
  }
  t.match(unit, /^WatchdogSec=\d+s$/m);
  t.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  t.end();
});

t.test('systemd/config.json: valid, every key, production paths', async (t) => {
  const config = await loadConfig(`${root}systemd/config.json`);
  t.equal(config.socket.path, '/run/vpc-peerd/vpc-peerd.sock');
  t.equal(config.auth.adminTokenFile, '/run/vpc-peerd/admin.token');
  t.equal(config.store.path, '/var/lib/vpc-peerd/state.json');
  t.equal(config.ovs.enabled, true, 'OVS is the point in production: unavailable at boot is retried, not no-op mode');
  t.equal(config.metrics.listen, null, 'no metrics endpoint unless asked for');
  const file = JSON.parse(readFileSync(`${root}systemd/config.json`, 'utf8')) as Record<string, Record<string, unknown>>;
  const written = Object.entries(file).flatMap(([section, keys]) => [section, ...Object.keys(keys).map((k) => `${section}.${k}`)]);
  const expected = configKeyPaths().filter((k) => k !== 'nodeId' && !k.startsWith('gossip.tls.'));
  t.same(written.sort(), expected.sort(), 'every key but nodeId (the host name by default)');
});
