// The choice of data plane from `ovs.enabled`, one test per branch, over the real OVS client with
// a fake runner in place of the tools (which binaries answer is the test's to say). That a real
// OVS is programmed is test/integration/dataplane.ovs.test.ts's part.
import t from 'tap';
import { createLogger } from '../../../src/log/logger.js';
import { createOvs } from '../../../src/ovs/ovs.js';
import { type OvsBinary, OvsError, type Runner } from '../../../src/ovs/runner.js';
import { chooseDataplane, type DataplaneChoiceOptions, type OvsMode } from '../../../src/reconcile/choose-dataplane.js';
import { StateIndex } from '../../../src/domain/state-index.js';

const RUNDIR = '/nonexistent/vpc-peerd-choose-test';

/** A runner in which only the binaries in `answering` answer (with empty output); it records every call. */
function fakeRunner(answering: readonly OvsBinary[]): Runner & { calls: string[] } {
  const calls: string[] = [];
  const down = (bin: OvsBinary): OvsError => new OvsError('unavailable', `${bin}: database connection failed`);
  return {
    rundir: RUNDIR,
    calls,
    run(bin, args) {
      calls.push(`${bin} ${args.join(' ')}`);
      return answering.includes(bin) ? Promise.resolve({ code: 0, stdout: '', stderr: '', durationMs: 1 }) : Promise.reject(down(bin));
    },
  };
}

function rig(enabled: OvsMode, runner: Runner) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', sink: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) } });
  const opts: DataplaneChoiceOptions = {
    enabled,
    rundir: RUNDIR,
    connect: (o) => createOvs({ ...o, runner }),
    view: () => new StateIndex({ vpcs: {}, peerings: {} }),
    cookiePrefix: 0x5ee0,
    intervalMs: 3_600_000,
    logger,
  };
  return { opts, lines };
}

t.test('false: no-op mode, OVS never asked, the reason in status', async (t) => {
  const runner = fakeRunner(['ovs-vsctl', 'ovs-appctl', 'ovs-ofctl']);
  const { opts, lines } = rig(false, runner);
  const choice = await chooseDataplane(opts);
  t.match(choice, { mode: 'no-op', reason: 'ovs.enabled is false' });
  t.match(choice.dataplane.status(), { state: 'disabled', reason: 'ovs.enabled is false' }, 'status shows the reason');
  t.same(runner.calls, [], 'no tool was run, although OVS would answer');
  t.match(lines, [{ level: 'info', msg: /no-op mode/, reason: 'ovs.enabled is false' }]);
});

t.test('"auto" with no OVS answering: probed, then no-op mode naming the rundir', async (t) => {
  const runner = fakeRunner([]);
  const { opts } = rig('auto', runner);
  const choice = await chooseDataplane(opts);
  t.match(choice, { mode: 'no-op', reason: `ovs.enabled is "auto" and no Open vSwitch answers at ${RUNDIR}` });
  t.match(choice.dataplane.status(), { state: 'disabled', reason: /no Open vSwitch answers/ });
  t.same(runner.calls.sort(), ['ovs-appctl -t ovs-vswitchd version', 'ovs-vsctl list-br'], 'the probe asked the database and vswitchd');
});

t.test('"auto" with the database up and vswitchd down: no-op mode (both must answer)', async (t) => {
  const { opts } = rig('auto', fakeRunner(['ovs-vsctl']));
  t.match(await chooseDataplane(opts), { mode: 'no-op', reason: /no Open vSwitch answers/ });
});

t.test('"auto" with OVS answering: the OVS data plane, not started', async (t) => {
  const runner = fakeRunner(['ovs-vsctl', 'ovs-appctl']);
  const { opts, lines } = rig('auto', runner);
  const choice = await chooseDataplane(opts);
  t.teardown(() => choice.dataplane.close());
  t.equal(choice.mode, 'ovs');
  t.equal(runner.calls.length, 2, 'only the probe ran: nothing is started before the caller wires it');
  t.match(lines, [{ msg: 'data plane: Open vSwitch', rundir: RUNDIR, cookie: '0x5ee0' }]);
});

t.test('true with OVS down: the OVS data plane without a probe; started, it reports unavailable and retries', async (t) => {
  const runner = fakeRunner([]);
  const { opts } = rig(true, runner);
  const choice = await chooseDataplane(opts);
  t.teardown(() => choice.dataplane.close());
  if (choice.mode !== 'ovs') throw new Error(`chose ${choice.mode}`);
  t.same(runner.calls, [], 'never probed: true means OVS, whether it answers now or later');
  choice.dataplane.start();
  t.equal(await choice.dataplane.loop.firstCycle, 'failed', 'the first cycle could not reach OVS');
  t.match(choice.dataplane.status(), { state: 'unavailable', reason: /cannot reach ovsdb-server at .*db\.sock/ });
  t.notOk(runner.calls.some((c) => c.startsWith('ovs-vsctl')), 'the cycle asked ovsdb-server for its topology, over db.sock, not ovs-vsctl');
});
