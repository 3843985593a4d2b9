// `metrics`: the numbers of the Prometheus endpoint (metrics.listen) as JSON, over the API, so an
// operator or the agent can read them without a scraper or an open port.
import { z } from 'zod';
import { defineMethod, type MethodSpec } from '../method.js';
import type { MethodDeps } from './deps.js';

const Labels = z.record(z.string(), z.string());
const Sample = z.union([
  z.object({ labels: Labels, value: z.number() }),
  z.object({
    labels: Labels,
    histogram: z.object({
      count: z.number().int(),
      sum: z.number(),
      buckets: z.array(z.object({ le: z.number(), count: z.number().int() })).describe('Cumulative; the +Inf bucket is `count`.'),
    }),
  }),
]);

export function metricsMethods(deps: MethodDeps): MethodSpec[] {
  return [
    defineMethod({
      name: 'metrics',
      summary:
        'The daemon\'s metrics (reconcile, flows, RPC and commit latency, journal, and the process figures: CPU, memory, heap, event-loop lag, handles, GC): the series of the Prometheus endpoint, as JSON (a NaN or infinite value has no sample).',
      auth: 'required',
      permission: 'daemon:status',
      operatorOnly: true,
      params: z.strictObject({}),
      result: z.object({
        families: z.array(
          z.object({ name: z.string(), help: z.string(), type: z.enum(['counter', 'gauge', 'histogram']), samples: z.array(Sample) }),
        ),
      }),
      handler: async () => ({ families: await deps.metrics() }),
    }),
  ];
}
