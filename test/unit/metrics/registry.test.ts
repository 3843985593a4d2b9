import t from 'tap';
import { createRegistry } from '../../../src/metrics/registry.js';
import { parsePrometheusText } from '../../helpers/prometheus-text.js';

t.test('histograms, collected series and the text format', async (t) => {
  const r = createRegistry();
  const h = r.histogram('x_duration_seconds', 'How long.\nTwo lines, a back\\slash.', { labelNames: ['method'], buckets: [0.1, 1] });
  let gauge = 3;
  r.collected('x_things', 'Things.', 'gauge', () => [
    { labels: { bridge: 'br-b' }, value: gauge },
    { labels: { bridge: 'br-a"\\\n' }, value: 1.5 },
  ], ['bridge']);
  r.collected('x_none', 'Declared, no sample yet.', 'gauge', () => []);
  h.observe({ method: 'a' }, 0.05);
  h.observe({ method: 'a' }, 0.5);
  h.observe({ method: 'a' }, 7);
  h.observe({ method: 'b' }, 0.1);

  const text = await r.text();
  t.equal(
    text,
    [
      '# HELP x_duration_seconds How long.\\nTwo lines, a back\\\\slash.',
      '# TYPE x_duration_seconds histogram',
      'x_duration_seconds_bucket{le="0.1",method="a"} 1',
      'x_duration_seconds_bucket{le="1",method="a"} 2',
      'x_duration_seconds_bucket{le="+Inf",method="a"} 3',
      'x_duration_seconds_sum{method="a"} 7.55',
      'x_duration_seconds_count{method="a"} 3',
      'x_duration_seconds_bucket{le="0.1",method="b"} 1',
      'x_duration_seconds_bucket{le="1",method="b"} 1',
      'x_duration_seconds_bucket{le="+Inf",method="b"} 1',
      'x_duration_seconds_sum{method="b"} 0.1',
      'x_duration_seconds_count{method="b"} 1',
      '',
      '# HELP x_things Things.',
      '# TYPE x_things gauge',
      'x_things{bridge="br-a\\"\\\\\\n"} 1.5',
      'x_things{bridge="br-b"} 3',
      '',
      '# HELP x_none Declared, no sample yet.',
      '# TYPE x_none gauge',
      '',
    ].join('\n'),
  );
  const parsed = parsePrometheusText(text);
  t.equal(parsed.get('x_things')?.samples[0]?.labels.bridge, 'br-a"\\\n', 'label escapes round-trip');
  gauge = 4;
  t.match(await r.text(), /x_things\{bridge="br-b"\} 4/, 'collected at each collection');
});

t.test('the JSON of collect(): the same families, series sorted by labels', async (t) => {
  const r = createRegistry();
  const h = r.histogram('x_duration_seconds', 'How long.', { labelNames: ['method'], buckets: [0.1, 1] });
  r.collected('x_things', 'Things.', 'gauge', () => [{ labels: { bridge: 'br-b' }, value: 3 }, { labels: { bridge: 'br-a' }, value: NaN }], ['bridge']);
  r.collected('x_none', 'None yet.', 'counter', () => []);
  h.observe({ method: 'b' }, 0.1);
  h.observe({ method: 'a' }, 0.5);
  h.observe({ method: 'a' }, 7);
  t.same(await r.collect(), [
    {
      name: 'x_duration_seconds',
      help: 'How long.',
      type: 'histogram',
      samples: [
        { labels: { method: 'a' }, histogram: { count: 2, sum: 7.5, buckets: [{ le: 0.1, count: 0 }, { le: 1, count: 1 }] } },
        { labels: { method: 'b' }, histogram: { count: 1, sum: 0.1, buckets: [{ le: 0.1, count: 1 }, { le: 1, count: 1 }] } },
      ],
    },
    { name: 'x_things', help: 'Things.', type: 'gauge', samples: [{ labels: { bridge: 'br-b' }, value: 3 }] },
    { name: 'x_none', help: 'None yet.', type: 'counter', samples: [] },
  ], 'NaN has no JSON sample');
  t.match(await r.text(), /^x_things\{bridge="br-a"\} Nan$/m, 'the text keeps it (prom-client writes Nan, which Prometheus reads)');
});

t.test('a collected counter reports its source, not a sum of collections', async (t) => {
  const r = createRegistry();
  let n = 5;
  r.collected('x_total', 'Things done.', 'counter', () => [{ labels: {}, value: n }]);
  t.match(await r.text(), /^x_total 5$/m);
  t.match(await r.text(), /^x_total 5$/m, 'twice the same');
  n = 7;
  t.match(await r.text(), /^x_total 7$/m);
});

t.test('the process figures: standard names, parseable, the same in JSON', async (t) => {
  const r = createRegistry({ processMetrics: true });
  r.collected('x_things', 'Things.', 'gauge', () => [{ labels: {}, value: 1 }]);
  const text = await r.text();
  const parsed = parsePrometheusText(text);
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_active_handles']) {
    t.ok((parsed.get(name)?.samples.length ?? 0) > 0, `${name} has a sample`);
  }
  t.equal(parsed.get('nodejs_gc_duration_seconds')?.type, 'histogram');
  t.equal([...parsed.keys()][0], 'x_things', "the registry's own families first");
  t.same((await r.collect()).map((f) => f.name), [...parsed.keys()], 'collect() has the same families');
  t.ok((await createRegistry({ processMetrics: true }).text()).includes('process_cpu_seconds_total'), 'a second registry in the process has them too');
  t.throws(() => r.collected('process_cpu_seconds_total', 'again', 'counter', () => []), /process metric/);
});

t.test('misuse throws', async (t) => {
  const r = createRegistry();
  r.histogram('ok_seconds', 'h');
  t.throws(() => r.histogram('ok_seconds', 'again'), /already been registered/);
  t.throws(() => r.histogram('bad-name', 'h'), /invalid metric name/i);
  t.throws(() => r.histogram('b_seconds', 'h', { buckets: [1, 0.5] }), /ascending/);
  t.throws(() => r.histogram('c_seconds', 'h', { labelNames: ['le'] }), /reserved/);
  t.throws(() => r.histogram('d_seconds', 'h').observe({ method: 'a' }, 1), /not included/, 'an undeclared label');
  r.collected('e', 'h', 'gauge', () => [{ labels: { bridge: 'a' }, value: 1 }]);
  await t.rejects(r.text(), /not included/, 'an undeclared label from a source fails the collection');
});

t.test('the strict parser refuses what a scraper could misread', (t) => {
  const bad = [
    'x 1',
    '# TYPE x gauge\nx{a="\\q"} 1\n',
    '# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx{a="b"} 2\n',
    '# TYPE x gauge\nx 1\nx 2\n',
    '# TYPE x histogram\nx_bucket{le="1"} 2\nx_bucket{le="+Inf"} 1\nx_sum 1\nx_count 1\n',
    '# TYPE x histogram\nx_bucket{le="1"} 1\nx_sum 1\nx_count 1\n',
    '# TYPE x gauge\nx one\n',
  ];
  for (const text of bad) t.throws(() => parsePrometheusText(text), JSON.stringify(text));
  t.end();
});

t.test('the parser takes what the format allows: empty lines, NaN and Inf in any case', (t) => {
  const parsed = parsePrometheusText('# TYPE x gauge\nx{a="1"} Nan\nx{a="2"} +inf\n\n# TYPE y gauge\ny -Inf\n');
  t.same(parsed.get('x')?.samples.map((s) => s.value), [NaN, Infinity]);
  t.same(parsed.get('y')?.samples.map((s) => s.value), [-Infinity]);
  t.end();
});
