// The choice of data plane at start, from `ovs.enabled` (docs/CONFIG.md): the Open vSwitch data
// plane, or no-op mode (the state machine runs, nothing is programmed) with the reason `status`
// shows. It builds the chosen part and starts nothing: the caller wires it to the store's commits
// and then starts it.
import { createOvs, type Ovs, type OvsOptions } from '../ovs/ovs.js';
import { createDisabledDataplane, type Dataplane } from './dataplane.js';
import { createOvsDataplane, type OvsDataplane, type OvsDataplaneOptions } from './ovs-dataplane.js';

/** `ovs.enabled`: true, false or "auto". */
export type OvsMode = boolean | 'auto';

export interface DataplaneChoiceOptions extends Omit<OvsDataplaneOptions, 'ovs'> {
  readonly enabled: OvsMode;
  /** The OVS_RUNDIR of the Open vSwitch to program (`ovs.rundir`). */
  readonly rundir: string;
  /** Builds the OVS client; default createOvs. Its probe() decides "auto". */
  readonly connect?: (opts: OvsOptions) => Ovs;
}

/** What was chosen: the OVS data plane (not started yet), or no-op mode and why. */
export type DataplaneChoice =
  | { readonly mode: 'ovs'; readonly dataplane: OvsDataplane }
  | { readonly mode: 'no-op'; readonly dataplane: Dataplane; readonly reason: string };

/**
 * false → no-op mode; "auto" → OVS if one answers now (ovsdb-server and ovs-vswitchd both), no-op
 * mode otherwise, for good (a restart looks again); true → OVS, never probed: while it does not
 * answer the data plane reports `unavailable` and retries. Never throws for an OVS that is down.
 */
export async function chooseDataplane(opts: DataplaneChoiceOptions): Promise<DataplaneChoice> {
  const { enabled, rundir, logger: log, connect = createOvs, ...rest } = opts;
  const noop = (reason: string): DataplaneChoice => {
    log.info('data plane: no-op mode (the state machine runs, nothing is programmed)', { reason });
    return { mode: 'no-op', dataplane: createDisabledDataplane(reason), reason };
  };
  if (enabled === false) return noop('ovs.enabled is false');
  const ovs = connect({ rundir, logger: log });
  if (enabled === 'auto' && (await ovs.probe()) === 'down') {
    ovs.close();
    return noop(`ovs.enabled is "auto" and no Open vSwitch answers at ${rundir}`);
  }
  const dataplane = createOvsDataplane({ ...rest, ovs, logger: log });
  log.info('data plane: Open vSwitch', { rundir, cookie: `0x${rest.cookiePrefix.toString(16)}` });
  return { mode: 'ovs', dataplane };
}
