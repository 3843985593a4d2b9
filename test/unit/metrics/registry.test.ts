import t from 'tap';
import { createRegistry, renderText } from '../../../src/metrics/registry.js';
import { parsePrometheusText } from '../../helpers/prometheus-text.js';

t.test('histograms, collected series and the text format', (t) => {
  const r = createRegistry();
  const h = r.histogram('x_duration_seconds', 'How long.\nTwo lines, a back\\slash.', [0.1, 1]);
  let gauge = 3;
  r.collected('x_things', 'Things.', 'gauge', () => [
    { labels: { bridge: 'br-b' }, value: gauge },
    { labels: { bridge: 'br-a"\\\n' }, value: 1.5 },
  ]);
  r.collected('x_none', 'Declared, no sample yet.', 'gauge', () => []);
  h.observe({ method: 'a' }, 0.05);
  h.observe({ method: 'a' }, 0.5);
  h.observe({ method: 'a' }, 7);
  h.observe({ method: 'b' }, 0.1);

  const text = renderText(r.collect());
  t.equal(
    text,
    [
      '# HELP x_duration_seconds How long.\\nTwo lines, a back\\\\slash.',
      '# TYPE x_duration_seconds histogram',
      'x_duration_seconds_bucket{method="a",le="0.1"} 1',
      'x_duration_seconds_bucket{method="a",le="1"} 2',
      'x_duration_seconds_bucket{method="a",le="+Inf"} 3',
      'x_duration_seconds_sum{method="a"} 7.55',
      'x_duration_seconds_count{method="a"} 3',
      'x_duration_seconds_bucket{method="b",le="0.1"} 1',
      'x_duration_seconds_bucket{method="b",le="1"} 1',
      'x_duration_seconds_bucket{method="b",le="+Inf"} 1',
      'x_duration_seconds_sum{method="b"} 0.1',
      'x_duration_seconds_count{method="b"} 1',
      '# HELP x_things Things.',
      '# TYPE x_things gauge',
      'x_things{bridge="br-a\\"\\\\\\n"} 1.5',
      'x_things{bridge="br-b"} 3',
      '# HELP x_none Declared, no sample yet.',
      '# TYPE x_none gauge',
      '',
    ].join('\n'),
  );
  const parsed = parsePrometheusText(text);
  t.equal(parsed.get('x_things')?.samples[0]?.labels.bridge, 'br-a"\\\n', 'label escapes round-trip');
  gauge = 4;
  t.match(renderText(r.collect()), /x_things\{bridge="br-b"\} 4/, 'collected at each collection');
  t.end();
});

t.test('misuse throws', (t) => {
  const r = createRegistry();
  r.histogram('ok_seconds', 'h');
  t.throws(() => r.histogram('ok_seconds', 'again'), /twice/);
  t.throws(() => r.histogram('bad-name', 'h'), /invalid metric name/);
  t.throws(() => r.histogram('b_seconds', 'h', [1, 0.5]), /ascending/);
  t.throws(() => r.histogram('c_seconds', 'h').observe({ le: '1' }, 1), /invalid label/);
  t.end();
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
