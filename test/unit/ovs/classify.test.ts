// How a failed OVS tool's stderr is classified (src/ovs/runner.ts): "OVS is not there" must be
// told from "the command is wrong", whichever way the socket failed.
import t from 'tap';
import { classify } from '../../../src/ovs/runner.js';

t.test('a socket that is refused, missing or reset: unavailable', async (t) => {
  const mgmt = 'ovs-ofctl: /run/ovs/br-a.mgmt';
  for (const stderr of [
    `${mgmt}: failed to open socket (Connection refused)`,
    `${mgmt}: failed to connect to socket (Connection reset by peer)`,
    `${mgmt}: failed to connect to socket (Broken pipe)`,
    `${mgmt}: failed to connect to socket (End of file)`,
    'ovs-ofctl: vconn_recv (End of file)',
    'ovs-ofctl: br-a is not a bridge or a socket',
    'ovs-vsctl: unix:/run/ovs/db.sock: database connection failed (No such file or directory)',
  ]) {
    t.equal(classify(stderr), 'unavailable', stderr);
  }
});

t.test('a database that answered: no-such-bridge or failed', async (t) => {
  t.equal(classify('ovs-vsctl: no bridge named br-x'), 'no-such-bridge');
  t.equal(classify('ovs-vsctl: no port named p0'), 'failed');
  t.equal(classify('ovs-ofctl: OFPT_ERROR ... OFPBRC_EPERM'), 'failed');
  t.equal(classify(''), 'failed');
});
