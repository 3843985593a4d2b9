import t from 'tap';
import {
  decodeSnapshot,
  encodeHeader,
  encodeRecord,
  scanJournal,
  unseal,
} from '../../../src/store/journal-format.js';
import { JOURNAL_ID, peering, putPeering, putVpc, snapshotText, vpc } from '../../helpers/store-records.js';

const journal = (...lines: string[]): Buffer => Buffer.from(lines.join(''));

t.test('a sealed line round-trips and names what is wrong with a damaged one', (t) => {
  const line = encodeRecord(1, [putVpc('a')]);
  t.match(line, /^\{"seq":1,"m":\[.*\],"crc":"[0-9a-f]{8}"\}\n$/);
  const body = Buffer.from(line.slice(0, -1));
  t.same(unseal(body), { value: { seq: 1, m: [putVpc('a')], crc: line.slice(-11, -3) } });

  const flipped = Buffer.from(body);
  flipped[body.indexOf('10.0')] = '2'.charCodeAt(0); // still valid JSON: only the CRC sees it
  t.equal(unseal(flipped), 'checksum mismatch');
  t.equal(unseal(body.subarray(0, -1)), 'line has no checksum');
  t.equal(unseal(Buffer.from('{}')), 'line too short');
  t.end();
});

t.test('checksums cover multi-byte text as UTF-8 bytes', (t) => {
  const line = encodeRecord(1, [{ op: 'vpc.put', vpc: { ...vpc('a'), name: 'réseau ✓' } }]);
  t.type(unseal(Buffer.from(line.slice(0, -1))), 'object');
  t.end();
});

t.test('scanJournal reads a sound journal', (t) => {
  const bytes = journal(encodeHeader(4, JOURNAL_ID), encodeRecord(5, [putVpc('a')]), encodeRecord(6, [putPeering(1)]));
  const scan = scanJournal(bytes);
  t.same(scan, {
    kind: 'journal', baseSeq: 4, id: JOURNAL_ID, goodBytes: bytes.length, cleanEnd: false, tail: null,
    records: [{ seq: 5, mutations: [putVpc('a')] }, { seq: 6, mutations: [putPeering(1)] }],
  });
  t.end();
});

t.test('scanJournal: an empty file is an empty journal', (t) => {
  t.same(scanJournal(Buffer.alloc(0)), { kind: 'empty' });
  t.end();
});

t.test('scanJournal refuses anything whose first line is not our header', (t) => {
  const cases: Array<[string, string | Buffer]> = [
    ['text', 'hello world\n'],
    ['no newline at all', 'garbage'],
    ['a lowdb JSONFile document', '{\n  "vpcs": {},\n  "peerings": {}\n}'],
    ['zeros', Buffer.alloc(4096)],
    ['a record where the header belongs', encodeRecord(1, [putVpc('a')])],
    ['a header of a future version', encodeHeader(0, JOURNAL_ID).replace('"version":1', '"version":2')],
  ];
  for (const [name, bytes] of cases) {
    t.equal(scanJournal(Buffer.from(bytes)).kind, 'foreign', name);
  }
  t.end();
});

t.test('scanJournal keeps the sound prefix and reports the tail', (t) => {
  const head = encodeHeader(0, JOURNAL_ID) + encodeRecord(1, [putVpc('a')]);
  const flipped = encodeRecord(2, [putVpc('b')]).replace('10.0.0.0', '10.0.0.1');
  // The last number: intact (sealed) lines after the bad one, which make the damage a middle one.
  const cases: Array<[string, string, RegExp, number, number]> = [
    ['torn last line', '{"seq":2,"m":[{"op":"vp', /unterminated last line/, 0, 0],
    ['zeros left by a crash', '\0'.repeat(100), /unterminated last line/, 0, 0],
    ['a corrupt line before good ones', flipped + encodeRecord(3, [putVpc('c')]), /checksum mismatch/, 2, 1],
    ['a corrupt last line', flipped, /checksum mismatch/, 1, 0],
    ['bad JSON behind a valid-looking seal', '{"seq":2,"m":[,"crc":"00000000"}\n', /checksum mismatch/, 1, 0],
    ['a skipped seq', encodeRecord(3, [putVpc('b')]), /record has seq 3/, 1, 0],
    ['a repeated seq', encodeRecord(1, [putVpc('b')]), /record has seq 1/, 1, 0],
    ['a malformed mutation', encodeRecord(2, [{ op: 'vpc.put', vpc: { ...vpc('b'), bridge: 'a bridge name too long' } }]), /malformed mutation/, 1, 0],
    ['an unknown op', encodeRecord(2, [{ op: 'vpc.drop', id: 'b' } as never]), /malformed mutation/, 1, 0],
  ];
  for (const [name, rest, reason, completeLines, intactAfter] of cases) {
    const scan = scanJournal(Buffer.from(head + rest));
    if (scan.kind !== 'journal') throw new Error(name);
    t.equal(scan.records.length, 1, `${name}: keeps the good record`);
    t.equal(scan.goodBytes, Buffer.byteLength(head), `${name}: sound prefix`);
    t.same(scan.tail && { ...scan.tail, reason: undefined }, {
      offset: Buffer.byteLength(head), bytes: Buffer.byteLength(rest), reason: undefined, completeLines, intactAfter,
    }, `${name}: tail`);
    t.match(scan.tail?.reason, reason, `${name}: reason`);
    t.match(scan.tail?.reason, /seq 2 expected/, `${name}: names the seq it expected`);
  }
  t.end();
});

t.test('a snapshot written in pieces is one sealed line; decodeSnapshot checks it all', (t) => {
  const vpcs = Array.from({ length: 7 }, (_, i) => vpc(`v${i}`));
  const peerings = Array.from({ length: 5 }, (_, i) => peering(i));
  const state = { vpcs: Object.fromEntries(vpcs.map((v) => [v.id, v])), peerings: Object.fromEntries(peerings.map((p) => [p.id, p])) };
  const text = snapshotText(9, state, 2);
  t.equal(text, snapshotText(9, state), 'the piece size does not change the text');
  const journal = { id: JOURNAL_ID, previous: null };
  t.same(JSON.parse(text), { snapshot: 'vpc-peerd', version: 1, seq: 9, journal, state, crc: text.slice(-11, -3) });
  t.same(decodeSnapshot(Buffer.from(text)), { seq: 9, journal, state });
  t.same(decodeSnapshot(Buffer.from(snapshotText(0, { vpcs: {}, peerings: {} }))), { seq: 0, journal, state: { vpcs: {}, peerings: {} } });
  const old = text.replace(`"journal":${JSON.stringify(journal)},`, '');
  t.match(decodeSnapshot(Buffer.from(old)), /checksum/, 'the journal link is under the checksum');
  t.match(decodeSnapshot(Buffer.from(snapshotText(1, state, 2, { id: 'nope', previous: null }))), /journal link is malformed/);

  t.match(decodeSnapshot(Buffer.from(text.slice(0, -1))), /newline/);
  t.match(decodeSnapshot(Buffer.from(text + text)), /more than one line/);
  t.match(decodeSnapshot(Buffer.from(text.replace('10.0.0.0', '10.9.0.0'))), /checksum/);
  t.match(decodeSnapshot(Buffer.from(encodeHeader(0, JOURNAL_ID))), /not a vpc-peerd snapshot/);
  const malformed = snapshotText(1, { vpcs: { a: { ...vpc('a'), bridge: 'far-too-long-a-name' } }, peerings: {} });
  t.match(decodeSnapshot(Buffer.from(malformed)), /bridge/);
  t.end();
});
