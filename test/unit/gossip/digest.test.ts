import fc from 'fast-check';
import t from 'tap';
import { holds } from '../../helpers/property.js';
import {
  answerDigest,
  answerEntries,
  type DigestBody,
  type DigestEntry,
  DigestIndex,
  type EntriesBody,
  entryOfSlot,
  HASH_BYTES,
  LEAF_MAX,
  openingDigest,
  parseDigestBody,
  parseEntriesBody,
} from '../../../src/gossip/digest.js';

const entry = (ref: string, version: string, dead = false): DigestEntry => ({ ref, version, dead });

function indexOf(entries: Iterable<DigestEntry>): DigestIndex {
  const index = new DigestIndex();
  for (const e of entries) index.set(e);
  return index;
}

/** What one full anti-entropy exchange between `a` (the opener) and `b` found, and what it cost. */
interface Exchange {
  /** Refs whose slot goes a → b (a offered it or b asked for it), and b → a. */
  readonly aToB: string[];
  readonly bToA: string[];
  readonly messages: number;
  readonly bytes: number;
  /** Live refs a holds that b holds nothing of, as the exchange tells a (absent on a, missing on b), and the same for b. */
  readonly aAbsent: string[];
  readonly bAbsent: string[];
}

/** Runs the stateless protocol between two indexes until neither side has anything to say. */
function exchange(a: DigestIndex, b: DigestIndex, leafMax = LEAF_MAX): Exchange {
  const aToB: string[] = [];
  const bToA: string[] = [];
  const aAbsent = new Set<string>();
  const bAbsent = new Set<string>();
  let messages = 0;
  let bytes = 0;
  const count = (body: DigestBody | EntriesBody): void => {
    messages++;
    bytes += JSON.stringify(body).length;
  };
  type Pending = { to: 'a' | 'b'; digest?: DigestBody; entries?: EntriesBody };
  const opening = openingDigest(a);
  count(opening);
  const queue: Pending[] = [{ to: 'b', digest: opening }];
  while (queue.length > 0) {
    const m = queue.shift()!;
    const me = m.to === 'a' ? a : b;
    const other = m.to === 'a' ? 'b' : 'a';
    if (m.digest) {
      const answer = answerDigest(me, m.digest, leafMax);
      if (answer.digest.groups.length > 0) {
        count(answer.digest);
        queue.push({ to: other, digest: answer.digest });
      }
      if (answer.entries.buckets.length > 0) {
        count(answer.entries);
        queue.push({ to: other, entries: answer.entries });
      }
    }
    if (m.entries) {
      const { offer, want, absent, missing } = answerEntries(me, m.entries);
      (m.to === 'a' ? aToB : bToA).push(...offer);
      (m.to === 'a' ? bToA : aToB).push(...want);
      for (const r of absent) (m.to === 'a' ? aAbsent : bAbsent).add(r);
      // `missing` goes back with ae.want; the other side's resync reads it for its live records.
      for (const r of missing) if (!(m.to === 'a' ? b : a).get(r)!.dead) (m.to === 'a' ? bAbsent : aAbsent).add(r);
    }
  }
  return { aToB: aToB.sort(), bToA: bToA.sort(), messages, bytes, aAbsent: [...aAbsent].sort(), bAbsent: [...bAbsent].sort() };
}

/** The refs `x` holds in a version `y` does not (absent there or different). */
function differing(x: DigestIndex, y: DigestIndex, refs: Iterable<string>): string[] {
  const out: string[] = [];
  for (const r of refs) {
    const ex = x.get(r);
    const ey = y.get(r);
    if (ex && (!ey || ey.version !== ex.version || ey.dead !== ex.dead)) out.push(r);
  }
  return out.sort();
}

t.test('the digest does not depend on the order of insertion, and a change is undone exactly', (t) => {
  const es = Array.from({ length: 500 }, (_, i) => entry(`vpc/v${i}`, `000000000001.${i.toString(16).padStart(4, '0')}.hv-01`));
  const a = indexOf(es);
  const b = indexOf([...es].reverse());
  t.equal(a.rootHash, b.rootHash);
  b.set(entry('vpc/v7', 'x'));
  t.not(a.rootHash, b.rootHash);
  b.set(es[7]!);
  t.equal(a.rootHash, b.rootHash);
  b.set(entry('vpc/new', 'y'));
  b.remove('vpc/new');
  t.equal(a.rootHash, b.rootHash);
  t.equal(b.size, 500);
  t.end();
});

t.test('deeper nodes read after changes (set, replace, remove) match a digest built afresh', (t) => {
  // The deeper nodes' sums are kept per top-level bucket between reads: a change must drop them.
  const es = Array.from({ length: 3000 }, (_, i) => entry(`vpc/v${i}`, `000000000001.${i.toString(16).padStart(4, '0')}.hv-01`));
  const live = indexOf(es);
  const held = new Map(es.map((e) => [e.ref, e]));
  const nodes = [0, 8, 12, 16, 20].flatMap((bits) => Array.from({ length: 20 }, (_, i) => ({ bits, value: (i * 2654435761) >>> (32 - bits) })));
  const read = (index: DigestIndex) => nodes.map((n) => [
    index.nodeHash(n).toString('hex'), index.count(n), n.bits < 32 ? index.childHashes(n).toString('hex') : '',
  ]);
  for (let step = 0; step < 6; step++) {
    read(live); // fills the kept sums
    for (let i = step; i < es.length; i += 7) {
      const e = es[i]!;
      if (step % 3 === 0) held.set(e.ref, { ...e, version: `changed-${step}` });
      else if (step % 3 === 1) held.delete(e.ref);
      else held.set(`vpc/n${step}-${i}`, entry(`vpc/n${step}-${i}`, 'new'));
    }
    for (const ref of [...live.entriesUnder({ bits: 0, value: 0 })].map((e) => e.ref)) if (!held.has(ref)) live.remove(ref);
    for (const e of held.values()) live.set(e);
    t.same(read(live), read(indexOf(held.values())), `after change ${step + 1}`);
  }
  t.end();
});

t.test('a tombstone and a live record of one version hash differently', (t) => {
  t.not(indexOf([entry('vpc/a', 'v')]).rootHash, indexOf([entry('vpc/a', 'v', true)]).rootHash);
  t.end();
});

t.test('identical replicas: one root hash and nothing else', (t) => {
  const es = Array.from({ length: 100_000 }, (_, i) => entry(`peering/pcx-${i.toString(16).padStart(17, '0')}`, `0000000000${(i % 256).toString(16).padStart(2, '0')}.0000.hv-01`));
  const a = indexOf(es);
  const b = indexOf(es);
  const x = exchange(a, b);
  t.same([x.aToB, x.bToA], [[], []]);
  t.equal(x.messages, 1);
  t.ok(x.bytes < 100, `${x.bytes} bytes for 100k identical records`);
  // 1,000 records changed on one side: found exactly, in a few round trips, without listing everything.
  for (let i = 0; i < 100_000; i += 100) b.set({ ...es[i]!, version: 'changed' });
  const y = exchange(a, b);
  const changed = es.filter((_, i) => i % 100 === 0).map((e) => e.ref).sort();
  t.same(y.aToB, changed);
  t.same(y.bToA, changed);
  t.ok(y.messages <= 8, `${y.messages} messages`);
  t.ok(y.bytes < 500_000, `${y.bytes} bytes to find 1,000 differences among 100k`);
  t.end();
});

t.test('an empty replica learns everything the other holds', (t) => {
  const es = Array.from({ length: 3000 }, (_, i) => entry(`vpc/v${i}`, '1'));
  const x = exchange(new DigestIndex(), indexOf(es));
  t.same(x.bToA, es.map((e) => e.ref).sort());
  t.same(x.aToB, []);
  t.end();
});

const arbRef = fc.tuple(fc.constantFrom('vpc', 'peering'), fc.integer({ min: 0, max: 400 })).map(([k, i]) => `${k}/r${i}`);
const arbEntry = fc.record({ ref: arbRef, version: fc.constantFrom('1', '2', '3'), dead: fc.boolean() });
/** Two replicas: a common part, then changes on either side (new records, other versions, tombstones, records only one holds). */
const arbPair = fc
  .tuple(fc.array(arbEntry, { maxLength: 300 }), fc.array(arbEntry, { maxLength: 40 }), fc.array(arbEntry, { maxLength: 40 }), fc.array(arbRef, { maxLength: 20 }))
  .map(([common, onlyA, onlyB, removedFromB]) => {
    const a = indexOf([...common, ...onlyA]);
    const b = indexOf([...common, ...onlyB]);
    for (const r of removedFromB) b.remove(r);
    return { a, b, refs: new Set([...common, ...onlyA, ...onlyB].map((e) => e.ref)) };
  });

t.test('property: the exchange finds exactly the records that differ, at any tree depth', (t) => {
  holds(
    t,
    'each side sends exactly what it holds in a version the other lacks',
    fc.property(arbPair, fc.constantFrom(0, 1, LEAF_MAX, 32), ({ a, b, refs }, leafMax) => {
      const x = exchange(a, b, leafMax);
      const same = JSON.stringify(x.aToB) === JSON.stringify(differing(a, b, refs)) && JSON.stringify(x.bToA) === JSON.stringify(differing(b, a, refs));
      const identical = x.aToB.length === 0 && x.bToA.length === 0;
      return same && (a.rootHash === b.rootHash) === identical;
    }),
    300,
  );
  holds(
    t,
    'each side learns exactly which of its live records the other holds nothing of (what a resync may end)',
    fc.property(arbPair, fc.constantFrom(0, 1, LEAF_MAX, 32), ({ a, b, refs }, leafMax) => {
      const x = exchange(a, b, leafMax);
      const onlyLive = (x: DigestIndex, y: DigestIndex): string[] => [...refs].filter((r) => x.get(r) && !x.get(r)!.dead && !y.get(r)).sort();
      return JSON.stringify(x.aAbsent) === JSON.stringify(onlyLive(a, b)) && JSON.stringify(x.bAbsent) === JSON.stringify(onlyLive(b, a));
    }),
    300,
  );
  holds(
    t,
    'identical replicas exchange nothing, whatever their contents',
    fc.property(fc.uniqueArray(arbEntry, { maxLength: 300, selector: (e) => e.ref }), fc.constantFrom(0, LEAF_MAX, 32), (es, leafMax) => {
      const x = exchange(indexOf(es), indexOf([...es].reverse()), leafMax);
      return x.aToB.length === 0 && x.bToA.length === 0 && x.messages === 1;
    }),
    200,
  );
  t.end();
});

t.test('entries of replica slots: the version text and the tombstone flag', (t) => {
  const version = { wallMs: 1, logical: 2, node: 'hv-01' };
  t.same(entryOfSlot('vpc', { kind: 'vpc', id: 'a', version, deletedAt: '2026-01-01T00:00:00.000Z' }), { ref: 'vpc/a', version: '000000000001.0002.hv-01', dead: true });
  t.end();
});

t.test('bodies from a peer are checked', (t) => {
  const root = openingDigest(new DigestIndex());
  t.same(parseDigestBody(root), root);
  const eight = Buffer.alloc(HASH_BYTES).toString('base64');
  t.ok(parseDigestBody({ groups: [{ bits: 8, first: 250, hashes: Buffer.alloc(6 * HASH_BYTES).toString('base64') }] }));
  for (const bad of [
    null,
    {},
    { groups: 'x' },
    { groups: [{ bits: 7, first: 0, hashes: eight }] },
    { groups: [{ bits: 8, first: 256, hashes: eight }] },
    { groups: [{ bits: 8, first: 251, hashes: Buffer.alloc(6 * HASH_BYTES).toString('base64') }] },
    { groups: [{ bits: 0, first: 0, hashes: 'AAAA' }] },
    { groups: [{ bits: 0, first: 0, hashes: '!!!!' }] },
    { groups: [{ bits: 12, first: 1.5, hashes: eight }] },
  ]) {
    t.equal(parseDigestBody(bad), undefined, JSON.stringify(bad));
  }
  t.ok(parseEntriesBody({ buckets: [{ bits: 32, value: 2 ** 32 - 1, entries: [['vpc/a', 'v', 0]] }] }));
  for (const bad of [
    { buckets: [{ bits: 32, value: 2 ** 32, entries: [] }] },
    { buckets: [{ bits: 8, value: 0, entries: [['vpc/a', 'v', 2]] }] },
    { buckets: [{ bits: 8, value: 0, entries: [['vpc/a', 3, 0]] }] },
    { buckets: [{ bits: 8, value: 0 }] },
  ]) {
    t.equal(parseEntriesBody(bad), undefined, JSON.stringify(bad));
  }
  t.end();
});
