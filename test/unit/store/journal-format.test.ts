import { crc32 } from 'node:zlib';
import t from 'tap';
import {
  decodeSnapshot,
  encodeHeader,
  encodeMerge,
  encodeRecord,
  scanJournal,
  snapshotPieces,
  unseal,
} from '../../../src/store/journal-format.js';
import { encodeHlc } from '../../../src/domain/hlc.js';
import { replicaOfUnversioned } from '../../../src/domain/replica.js';
import { JOURNAL_ID, peering, peeringId, putPeering, putVpc, snapshotText, vpc, STAMP } from '../../helpers/store-records.js';

const journal = (...lines: string[]): Buffer => Buffer.from(lines.join(''));

t.test('a sealed line round-trips and names what is wrong with a damaged one', (t) => {
  const line = encodeRecord(1, [putVpc('a')], STAMP);
  t.match(line, /^\{"seq":1,"origin":"local","version":"[0-9a-f]{12}\.0000\.hv-01","at":"[^"]+","m":\[.*\],"crc":"[0-9a-f]{8}"\}\n$/);
  const body = Buffer.from(line.slice(0, -1));
  t.same(unseal(body), { value: { seq: 1, origin: 'local', version: encodeHlc(STAMP.version), at: STAMP.at, m: [putVpc('a')], crc: line.slice(-11, -3) } });

  const flipped = Buffer.from(body);
  flipped[body.indexOf('10.0')] = '2'.charCodeAt(0); // still valid JSON: only the CRC sees it
  t.equal(unseal(flipped), 'checksum mismatch');
  t.equal(unseal(body.subarray(0, -1)), 'line has no checksum');
  t.equal(unseal(Buffer.from('{}')), 'line too short');
  t.end();
});

t.test('checksums cover multi-byte text as UTF-8 bytes', (t) => {
  const line = encodeRecord(1, [{ op: 'vpc.put', vpc: { ...vpc('a'), name: 'réseau ✓' } }], STAMP);
  t.type(unseal(Buffer.from(line.slice(0, -1))), 'object');
  t.end();
});

t.test('scanJournal reads a sound journal', (t) => {
  const bytes = journal(encodeHeader(4, JOURNAL_ID), encodeRecord(5, [putVpc('a')], STAMP), encodeRecord(6, [putPeering(1)], STAMP));
  const scan = scanJournal(bytes);
  t.same(scan, {
    kind: 'journal', format: 2, baseSeq: 4, id: JOURNAL_ID, goodBytes: bytes.length, cleanEnd: false, tail: null,
    records: [{ seq: 5, mutations: [putVpc('a')], stamp: STAMP, merge: null }, { seq: 6, mutations: [putPeering(1)], stamp: STAMP, merge: null }],
  });
  t.end();
});

t.test('scanJournal reads a merge line (received slots) and refuses one with a bad slot', (t) => {
  const version = { wallMs: 1, logical: 2, node: 'hv-02' };
  const slot = { record: vpc('a'), version, incarnation: version };
  const tomb = { kind: 'peering' as const, id: peeringId(3), version, deletedAt: '2025-01-01T00:00:00.000Z' };
  const merge = { origin: 'hv-02', at: '2025-01-01T00:00:01.000Z', slots: { vpcs: [slot], peerings: [tomb] } };
  const scan = scanJournal(journal(encodeHeader(0, JOURNAL_ID), encodeMerge(1, merge)));
  t.match(scan, { kind: 'journal', tail: null, records: [{ seq: 1, stamp: null, merge, mutations: [putVpc('a'), { op: 'peering.del', id: peeringId(3) }] }] });
  const bad = encodeMerge(1, { ...merge, slots: { vpcs: [{ ...slot, incarnation: { ...version, node: 'Bad Node' } }], peerings: [] } });
  t.match(scanJournal(journal(encodeHeader(0, JOURNAL_ID), bad)), { kind: 'journal', records: [], tail: { reason: /merge record: vpc a: incarnation is not a version/ } });
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
    ['a record where the header belongs', encodeRecord(1, [putVpc('a')], STAMP)],
    ['a header of a future version', encodeHeader(0, JOURNAL_ID).replace('"version":2', '"version":3')],
  ];
  for (const [name, bytes] of cases) {
    t.equal(scanJournal(Buffer.from(bytes)).kind, 'foreign', name);
  }
  t.end();
});

t.test('scanJournal keeps the sound prefix and reports the tail', (t) => {
  const head = encodeHeader(0, JOURNAL_ID) + encodeRecord(1, [putVpc('a')], STAMP);
  const flipped = encodeRecord(2, [putVpc('b')], STAMP).replace('10.0.0.0', '10.0.0.1');
  // The last number: intact (sealed) lines after the bad one, which make the damage a middle one.
  const cases: Array<[string, string, RegExp, number, number]> = [
    ['torn last line', '{"seq":2,"m":[{"op":"vp', /unterminated last line/, 0, 0],
    ['zeros left by a crash', '\0'.repeat(100), /unterminated last line/, 0, 0],
    ['a corrupt line before good ones', flipped + encodeRecord(3, [putVpc('c')], STAMP), /checksum mismatch/, 2, 1],
    ['a corrupt last line', flipped, /checksum mismatch/, 1, 0],
    ['bad JSON behind a valid-looking seal', '{"seq":2,"m":[,"crc":"00000000"}\n', /checksum mismatch/, 1, 0],
    ['a skipped seq', encodeRecord(3, [putVpc('b')], STAMP), /record has seq 3/, 1, 0],
    ['a repeated seq', encodeRecord(1, [putVpc('b')], STAMP), /record has seq 1/, 1, 0],
    ['a malformed mutation', encodeRecord(2, [{ op: 'vpc.put', vpc: { ...vpc('b'), bridge: 'a bridge name too long' } }], STAMP), /malformed mutation/, 1, 0],
    ['an unknown op', encodeRecord(2, [{ op: 'vpc.drop', id: 'b' } as never], STAMP), /malformed mutation/, 1, 0],
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
  const replica = replicaOfUnversioned(state, 'hv-01');
  t.match(JSON.parse(text), { snapshot: 'vpc-peerd', version: 2, seq: 9, journal, state, meta: { vpcs: { v0: { version: '01941f297c00.0000.hv-01' } } }, tombstones: [] });
  t.same(decodeSnapshot(Buffer.from(text)), { format: 2, seq: 9, journal, state, replica });
  t.same(decodeSnapshot(Buffer.from(snapshotText(0, { vpcs: {}, peerings: {} }))), {
    format: 2, seq: 0, journal, state: { vpcs: {}, peerings: {} }, replica: { vpcs: new Map(), peerings: new Map() },
  });
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

t.test('format 2: a record carries its stamp, checked by the rules of records.ts; format 1 still scans', (t) => {
  const header = encodeHeader(0, JOURNAL_ID);
  const good = encodeRecord(1, [putVpc('a')], STAMP);
  const bad = (patch: (s: string) => string) => {
    const scan = scanJournal(journal(header, reseal(patch(good))));
    return scan.kind === 'journal' ? scan.tail?.reason : scan.kind;
  };
  t.match(bad((s) => s.replace(`"version":"${encodeHlc(STAMP.version)}"`, '"version":"yesterday"')), /version is not a version/);
  t.match(bad((s) => s.replace('"origin":"local"', '"origin":"two words"')), /origin is not an origin/);
  t.match(bad((s) => s.replace(`"at":"${STAMP.at}"`, '"at":"2025-13-01T00:00:00.000Z"')), /at is not an ISO-8601/);
  // A journal of the old daemon: no stamps, header version 1.
  const v1 = journal(unsealedV1Header(), reseal(`{"seq":1,"m":${JSON.stringify([putVpc('a')])},"crc":"00000000"}\n`));
  t.match(scanJournal(v1), { kind: 'journal', format: 1, records: [{ seq: 1, mutations: [putVpc('a')], stamp: null }], tail: null });
  t.end();
});

t.test('format 2 snapshot: versions for every record, sound tombstones', (t) => {
  const state = { vpcs: { a: vpc('a') }, peerings: {} };
  const replica = replicaOfUnversioned(state, 'hv-01');
  const tomb = { kind: 'vpc' as const, id: 'gone', version: STAMP.version, deletedAt: STAMP.at };
  replica.vpcs.set('gone', tomb);
  const text = [...snapshotPieces({ seq: 3, journal: { id: JOURNAL_ID, previous: null }, vpcs: [vpc('a')], peerings: [], replica })].join('');
  t.match(decodeSnapshot(Buffer.from(text)), { format: 2, replica: { vpcs: new Map([['a', replica.vpcs.get('a')], ['gone', tomb]]) } });
  const body = (s: string) => Buffer.from(reseal(s));
  t.match(decodeSnapshot(body(text.replace('"meta":{"vpcs":{"a":', '"meta":{"vpcs":{"b":'))), /meta|vpc a has no version/);
  t.match(decodeSnapshot(body(text.replace('"kind":"vpc","id":"gone"', '"kind":"vpc","id":"Gone!"'))), /tombstone: id is not a valid id/);
  t.match(decodeSnapshot(body(text.replace('"deletedAt":"2025-01-01T00:00:00.000Z"', '"deletedAt":"soon"'))), /tombstone: deletedAt/);
  t.end();
});

/** Recomputes the checksum of a line edited by a test (the edit is then only caught by the rules). */
function reseal(line: string): string {
  const json = line.replace(/,"crc":"[0-9a-f]{8}"\}\n$/, '}');
  return `${json.slice(0, -1)},"crc":"${crc32(json).toString(16).padStart(8, '0')}"}\n`;
}

function unsealedV1Header(): string {
  return reseal(`{"journal":"vpc-peerd","version":1,"baseSeq":0,"id":"${JOURNAL_ID}","crc":"00000000"}\n`);
}
