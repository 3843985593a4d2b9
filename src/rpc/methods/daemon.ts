// auth.login, status and reconcile.run: the methods about the daemon itself rather than records.
import { z } from 'zod';
import { requireOperator, requirePermission } from '../../domain/rbac.js';
import { defineMethod, type MethodSpec } from '../method.js';
import type { MethodDeps } from './deps.js';
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
      params: z.strictObject({}),
      handler: (_params, { principal }) => {
        requirePermission(principal, 'daemon:status');
        requireOperator(principal);
        const view = deps.store.view;
        const now = deps.now();
        return {
          version: deps.version,
          nodeId: deps.nodeId,
          startedAt: deps.startedAt.toISOString(),
          uptimeSeconds: Math.floor((now.getTime() - deps.startedAt.getTime()) / 1000),
          store: deps.store.stats(),
          ovs: deps.dataplane().status(),
          gossip: { enabled: false, peers: [] },
          counts: { vpcs: view.vpcCount, peerings: view.peeringCountsByStatus() },
        };
      },
    }),
    defineMethod({
      name: 'reconcile.run',
      summary: 'Diff the flows on this host against the desired state and repair them (or only report, with dryRun).',
      auth: 'required',
      params: z.strictObject({ bridge: Bridge.optional(), dryRun: z.boolean().optional() }),
      result: z.object({
        bridges: z.array(z.string()),
        added: z.number().int(),
        removed: z.number().int(),
        unchanged: z.number().int(),
        durationMs: z.number(),
        errors: z.array(z.object({ bridge: z.string(), error: z.string() })),
      }),
      handler: (params, { principal }) => {
        requirePermission(principal, 'daemon:reconcile');
        requireOperator(principal);
        return deps.dataplane().reconcile(params);
      },
    }),
  ];
}
