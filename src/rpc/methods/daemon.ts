// auth.login, status and reconcile.run: the methods about the daemon itself rather than records.
import { z } from 'zod';
import { defineMethod, type MethodSpec } from '../method.js';
import { fromDataplane, type MethodDeps } from './deps.js';
import { Bridge } from './schemas.js';

const PrincipalResult = z.object({ sub: z.string(), tenant: z.string(), permissions: z.array(z.string()) });

export function daemonMethods(deps: MethodDeps): MethodSpec[] {
  return [
    defineMethod({
      name: 'auth.login',
      summary: 'Authenticate this connection: later calls on it act as the token\'s principal.',
      auth: 'none',
      params: z.strictObject({ token: z.string().min(1).max(16384) }),
      result: PrincipalResult,
      handler: async (params, { connection }) => {
        // A refused login leaves the connection anonymous, not logged in as before.
        connection.principal = null;
        const principal = await deps.authenticate(params.token);
        connection.principal = principal;
        return { sub: principal.sub, tenant: principal.tenant, permissions: [...principal.permissions] };
      },
    }),
    defineMethod({
      name: 'status',
      summary: 'Health of this daemon: store, OVS, gossip, counts of records.',
      auth: 'required',
      permission: 'daemon:status',
      operatorOnly: true,
      params: z.strictObject({}),
      handler: () => {
        const view = deps.store.view;
        const now = deps.now();
        return {
          version: deps.version,
          nodeId: deps.nodeId,
          startedAt: deps.startedAt.toISOString(),
          uptimeSeconds: Math.floor((now.getTime() - deps.startedAt.getTime()) / 1000),
          store: deps.store.stats(),
          ovs: deps.dataplane().status(),
          gossip: deps.gossip(),
          counts: { vpcs: view.vpcCount, peerings: view.peeringCountsByStatus() },
        };
      },
    }),
    defineMethod({
      name: 'reconcile.run',
      summary:
        'Diff the flows on this host against the desired state and repair them (or only report, with dryRun); ' +
        'with dryRun or verbose, list the flows and ports per bridge. A bridge not on this host: 404 BRIDGE_NOT_FOUND.',
      auth: 'required',
      permission: 'daemon:reconcile',
      operatorOnly: true,
      params: z.strictObject({ bridge: Bridge.optional(), dryRun: z.boolean().optional(), verbose: z.boolean().optional() }),
      result: z.object({
        ovs: z.enum(['enabled', 'disabled', 'unavailable']).describe('disabled: no-op mode, nothing was looked at'),
        bridges: z.array(z.string()),
        added: z.number().int(),
        removed: z.number().int(),
        unchanged: z.number().int(),
        durationMs: z.number(),
        errors: z.array(z.object({ bridge: z.string(), reason: z.string(), error: z.string() })),
        changes: z
          .array(
            z.object({
              bridge: z.string(),
              addFlows: z.array(z.string()).describe("each pasteable as: ovs-ofctl add-flow BRIDGE '<flow>'"),
              removeFlows: z.array(z.string()).describe("each pasteable as: ovs-ofctl --strict del-flows BRIDGE '<flow>'"),
              addPorts: z.array(z.string()).describe('patch ports to create, as "name (peer=other)"'),
              removePorts: z.array(z.string()),
            }),
          )
          .optional()
          .describe('With dryRun or verbose: the bridges with something to change (empty: nothing to do).'),
      }),
      handler: (params) => fromDataplane(deps.dataplane().reconcile(params)),
    }),
  ];
}
