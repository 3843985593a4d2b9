import fc from 'fast-check';
import t from 'tap';
import {
  FORGET_AFTER_MS, type HostBeat, type HostReport, HostReports, MAX_BEATS_PER_FRAME, parseHostsBody, peeringHosts, REPORT_PART_ENTRIES, type ReportEntry, reportEntry, STALE_BEATS,
} from '../../../src/gossip/host-reports.js';
import { MAX_REASON_LENGTH } from '../../../src/domain/records.js';

const PCX = 'pcx-0123456789abcdef0';
const report = (nodeId: string, at: string, peerings: HostReport['peerings'] = [[PCX, 'programmed', 8]], part = 0, parts = 1): HostReport => ({ nodeId, at, part, parts, peerings });
const full = (r: HostReport) => ({ nodeId: r.nodeId, at: r.at, peerings: new Map(r.peerings.map((e) => [e[0], e])) });
/** A held report as HostReports.others() gives it: heard from at `heardAt` (ms, or null), stale after 30 s. */
const held = (r: HostReport, heardAt: number | null) => ({ ...full(r), heardAt, staleAfterMs: 30_000 });
const beat = (nodeId: string, at: string, age = 0, every = 10_000): HostBeat => ({ nodeId, beat: at, every, age });

t.test('parseHostsBody takes well-formed reports and refuses every malformed part', (t) => {
  const good = { reports: [report('hv-1', '2026-12-03T07:00:00.000Z'), report('hv-2', '2026-12-03T07:00:00.001Z', [[PCX, 'error', 0, 'OVS is not answering']])] };
  t.same(parseHostsBody(good), good);
  const bad: [string, unknown][] = [
    ['not an object', []],
    ['no reports', {}],
    ['a node id with a space', { reports: [report('hv 1', '2026-12-03T07:00:00.000Z')] }],
    ['a time that is not ISO', { reports: [report('hv-1', 'yesterday')] }],
    ['a peering id by no pattern', { reports: [report('hv-1', '2026-12-03T07:00:00.000Z', [['x', 'programmed', 1]])] }],
    ['a state no host reports', { reports: [report('hv-1', '2026-12-03T07:00:00.000Z', [[PCX, 'unknown' as never, 1]])] }],
    ['negative flows', { reports: [report('hv-1', '2026-12-03T07:00:00.000Z', [[PCX, 'programmed', -1]])] }],
    ['fractional flows', { reports: [report('hv-1', '2026-12-03T07:00:00.000Z', [[PCX, 'programmed', 1.5]])] }],
    ['an error that is not text', { reports: [report('hv-1', '2026-12-03T07:00:00.000Z', [[PCX, 'error', 0, 5 as never]])] }],
    ['a part beyond the parts', { reports: [report('hv-1', '2026-12-03T07:00:00.000Z', [], 1, 1)] }],
    ['no parts', { reports: [report('hv-1', '2026-12-03T07:00:00.000Z', [], 0, 0)] }],
    ['a part over the entries bound', { reports: [report('hv-1', '2026-12-03T07:00:00.000Z', Array.from({ length: REPORT_PART_ENTRIES + 1 }, (): ReportEntry => [PCX, 'inactive', 0]))] }],
    ['too many reports', { reports: Array.from({ length: 65 }, (_, i) => report(`hv-${i}`, '2026-12-03T07:00:00.000Z')) }],
    ['alive that is not a list', { reports: [], alive: {} }],
    ['a beat with a time that is not ISO', { reports: [], alive: [beat('hv-1', 'now')] }],
    ['a beat with a negative age', { reports: [], alive: [beat('hv-1', '2026-12-03T07:00:00.000Z', -1)] }],
    ['a beat older than a host is remembered', { reports: [], alive: [beat('hv-1', '2026-12-03T07:00:00.000Z', FORGET_AFTER_MS + 1)] }],
    ['a beat with no interval', { reports: [], alive: [beat('hv-1', '2026-12-03T07:00:00.000Z', 0, 0)] }],
    ['too many beats', { reports: [], alive: Array.from({ length: MAX_BEATS_PER_FRAME + 1 }, (_, i) => beat(`hv-${i}`, '2026-12-03T07:00:00.000Z')) }],
  ];
  const beats = { reports: [], alive: [beat('hv-1', '2026-12-03T07:00:00.000Z', 1500)] };
  t.same(parseHostsBody(beats), beats, 'heartbeats alone');
  for (const [what, body] of bad) t.equal(parseHostsBody(body), undefined, what);
  t.end();
});

t.test('parseHostsBody never throws on any JSON value', (t) => {
  fc.assert(fc.property(fc.jsonValue(), (v) => {
    const r = parseHostsBody({ reports: [v] });
    return r === undefined || r.reports.length === 1;
  }), { numRuns: 2000 });
  fc.assert(fc.property(fc.anything(), (v) => parseHostsBody(v) === undefined || typeof v === 'object'), { numRuns: 2000 });
  t.end();
});

t.test('HostReports: own reports only when the data plane changed, with a strictly growing time; the newest of each other node kept', (t) => {
  let clock = Date.parse('2026-12-03T07:00:00.000Z');
  const h = new HostReports('hv-1', () => clock);
  const [first] = h.publish([[PCX, 'pending', 2]])!;
  t.equal(first!.at, '2026-12-03T07:00:00.000Z');
  t.equal(h.publish([[PCX, 'pending', 2]]), null, 'unchanged: nothing to send');
  const [second] = h.publish([[PCX, 'programmed', 8]])!;
  t.ok(Date.parse(second!.at) > Date.parse(first!.at), 'a report in the same ms still orders after the last one');
  clock -= 60_000; // the wall clock stepped back
  t.ok(Date.parse(h.publish([])![0]!.at) > Date.parse(second!.at), 'and after a clock step back');

  t.same(h.offer([report('hv-1', '2030-01-01T00:00:00.000Z')]), [], 'this node\'s own report coming back is ignored');
  const older = report('hv-2', '2026-12-03T07:00:00.000Z', []);
  const newer = report('hv-2', '2026-12-03T07:00:01.000Z');
  t.same(h.offer([newer]), [newer]);
  t.same(h.offer([older, newer]), [], 'older or equal: nothing new, nothing to forward');
  t.same(h.others(), [held(newer, null)]);
  t.same(h.all().map((r) => r.nodeId), ['hv-1', 'hv-2'], 'own first');
  t.end();
});

t.test('a report of many peerings goes in parts, shown once all are in, whatever their order', (t) => {
  const many = Array.from({ length: REPORT_PART_ENTRIES * 2 + 5 }, (_, i): ReportEntry => [`pcx-${i.toString(16).padStart(17, '0')}`, 'programmed', 8]);
  const sender = new HostReports('hv-2', () => Date.parse('2026-12-03T07:00:00.000Z'));
  const parts = sender.publish(many)!;
  t.same(parts.map((p) => [p.part, p.parts, p.peerings.length]), [[0, 3, REPORT_PART_ENTRIES], [1, 3, REPORT_PART_ENTRIES], [2, 3, 5]]);
  t.ok(parts.every((p) => JSON.stringify({ type: 'hosts', seq: 1, body: { reports: [p] } }).length < 1024 * 1024 / 2), 'each part far below a frame');
  const h = new HostReports('hv-1');
  t.same(h.offer([parts[2]!, parts[0]!]).length, 2);
  t.same(h.others(), [], 'not shown while a part is missing');
  t.same(h.offer([parts[0]!]), [], 'a part held is not forwarded again');
  t.same(h.offer([parts[1]!]).length, 1);
  t.equal(h.others()[0]!.peerings.size, many.length, 'whole');
  t.equal(h.all().length, 3, 'a new link is sent every part');
  const newer = sender.publish(many.slice(1))!;
  h.offer([newer[0]!]);
  t.equal(h.others()[0]!.peerings.size, many.length, 'the whole older report stays shown while the newer one arrives');
  t.end();
});

t.test('peeringHosts: this host live, then each report; unknown where a report lacks the peering', (t) => {
  const now = new Date('2026-12-03T08:00:00.000Z');
  const hosts = peeringHosts(
    PCX,
    { nodeId: 'hv-1', view: { state: 'disabled', flows: 0, lastAttemptAt: null }, now },
    [
      held(report('hv-2', '2026-12-03T07:59:59.000Z', [[PCX, 'error', 0, 'OVS is not answering']]), now.getTime() - 1000),
      held(report('hv-3', '2026-12-03T07:59:58.000Z', []), now.getTime() - 30_000),
      held(report('hv-4', '2026-12-03T07:00:00.000Z'), now.getTime() - 30_001),
      held(report('hv-5', '2026-12-03T07:00:00.000Z', []), null),
    ],
  );
  t.strictSame(hosts, [
    { nodeId: 'hv-1', state: 'disabled', flows: 0, at: '2026-12-03T08:00:00.000Z', heardAt: '2026-12-03T08:00:00.000Z' },
    { nodeId: 'hv-2', state: 'error', flows: 0, at: '2026-12-03T07:59:59.000Z', heardAt: '2026-12-03T07:59:59.000Z', error: 'OVS is not answering' },
    { nodeId: 'hv-3', state: 'unknown', flows: 0, at: '2026-12-03T07:59:58.000Z', heardAt: '2026-12-03T07:59:30.000Z' },
    { nodeId: 'hv-4', state: 'unknown', flows: 8, at: '2026-12-03T07:00:00.000Z', heardAt: '2026-12-03T07:59:29.999Z', stale: true, lastState: 'programmed' },
    { nodeId: 'hv-5', state: 'unknown', flows: 0, at: '2026-12-03T07:00:00.000Z', heardAt: null, stale: true },
  ], 'quiet but heard within its stale time: as reported; silent longer, or never heard: unknown and stale, with the last state');
  const long = reportEntry(PCX, { state: 'error', flows: 0, lastAttemptAt: null, error: 'x'.repeat(5000) });
  t.equal([...long[3]!].length, MAX_REASON_LENGTH, 'a long error is cut to what the decoder takes');
  t.same(parseHostsBody({ reports: [report('hv-2', '2026-12-03T07:00:00.000Z', [long])] })?.reports.length, 1);
  t.end();
});

t.test('heartbeats: dated on this host\'s clock less the age, newer ones forwarded, this node\'s own and old ones stop here', (t) => {
  let clock = Date.parse('2026-12-03T08:00:00.000Z');
  const h = new HostReports('hv-1', () => clock, () => 10_000);
  t.same(h.beat(), beat('hv-1', '2026-12-03T08:00:00.000Z'), 'own beat: age 0, this host\'s interval');
  t.ok(Date.parse(h.beat().beat) > Date.parse('2026-12-03T08:00:00.000Z'), 'the next beat in the same ms still orders after');
  t.same(h.hear([beat('hv-1', '2030-01-01T00:00:00.000Z')]), [], 'this node\'s own beat coming back is ignored');
  h.offer([report('hv-2', '2026-12-03T07:00:00.000Z')]);
  t.equal(h.others()[0]!.heardAt, null, 'a report alone says nothing of its host being alive (a relay may have held it for an hour)');
  // The origin's clock is an hour ahead: only its order matters, the age dates it here.
  t.same(h.hear([beat('hv-2', '2026-12-03T09:00:00.000Z', 1500, 20_000)]), [beat('hv-2', '2026-12-03T09:00:00.000Z', 1500, 20_000)], 'new: forwarded, aged');
  t.same(h.others()[0], { ...full(report('hv-2', '2026-12-03T07:00:00.000Z')), heardAt: clock - 1500, staleAfterMs: STALE_BEATS * 20_000 }, 'stale after 3 of the origin\'s intervals');
  t.same(h.hear([beat('hv-2', '2026-12-03T09:00:00.000Z', 0)]), [], 'a beat already held stops here');
  clock += 4000;
  t.same(h.beats(), [beat('hv-2', '2026-12-03T09:00:00.000Z', 5500, 20_000)], 'what a new link is sent: every beat held, aged by the time held here');
  t.same(h.hear([beat('hv-3', '2026-12-03T08:00:01.000Z', 100)]).length, 1, 'a host heard of before its report');
  t.same(h.others().map((r) => r.nodeId), ['hv-2'], 'is not shown until its report arrives');
  t.end();
});

t.test('a host not heard from for FORGET_AFTER_MS is forgotten (memory bounded); one heard from is kept', (t) => {
  let clock = Date.parse('2026-12-03T08:00:00.000Z');
  const h = new HostReports('hv-1', () => clock);
  h.offer([report('hv-gone', '2026-12-03T07:00:00.000Z'), report('hv-alive', '2026-12-03T07:00:00.000Z'), report('hv-mute', '2026-12-03T07:00:00.000Z')]);
  h.hear([beat('hv-gone', '2026-12-03T08:00:00.000Z', 60_000), beat('hv-alive', '2026-12-03T08:00:00.000Z')]);
  clock += FORGET_AFTER_MS - 60_000;
  t.same(h.others().map((r) => r.nodeId), ['hv-alive', 'hv-gone', 'hv-mute'], 'an hour less a minute after its last sign of life: still listed (stale)');
  h.hear([beat('hv-alive', '2026-12-03T08:59:00.000Z')]);
  clock += 1;
  t.same(h.others().map((r) => r.nodeId), ['hv-alive', 'hv-mute'], 'silent an hour: dropped');
  t.same(h.beats().map((b) => b.nodeId), ['hv-alive'], 'its beat is not passed on either');
  t.same(h.all().map((r) => r.nodeId), ['hv-alive', 'hv-mute'], 'nor its report');
  clock += 60_000;
  t.same(h.others().map((r) => r.nodeId), ['hv-alive'], 'a report never followed by a beat goes an hour after it arrived');
  h.offer([report('hv-gone', '2026-12-03T07:00:00.000Z')]);
  t.same(h.others().map((r) => r.nodeId), ['hv-alive', 'hv-gone'], 'a forgotten host that is heard of again is listed again');
  t.end();
});
