// The method table of the API (SPEC §5). The dispatcher and rpc.discover both read this list.
import type { MethodSpec } from '../method.js';
import { daemonMethods } from './daemon.js';
import type { MethodDeps } from './deps.js';
import { metricsMethods } from './metrics.js';
import { peeringMethods } from './peering.js';
import { vpcMethods } from './vpc.js';

export function apiMethods(deps: MethodDeps): MethodSpec[] {
  return [...daemonMethods(deps), ...metricsMethods(deps), ...vpcMethods(deps), ...peeringMethods(deps)];
}
