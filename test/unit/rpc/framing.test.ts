import t from 'tap';
import { type Frame, LineFramer } from '../../../src/rpc/framing.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
const texts = (frames: Frame[]): string[] => frames.map((f) => (f.kind === 'line' ? f.text : `<${f.kind}>`));

t.test('many lines in one chunk, and a partial line kept for the next', (t) => {
  const f = new LineFramer(100);
  t.same(texts(f.push(bytes('{"a":1}\n{"b":2}\n{"c"'))), ['{"a":1}', '{"b":2}']);
  t.same(texts(f.push(bytes(':3}\n'))), ['{"c":3}']);
  t.end();
});

t.test('a line split byte by byte is reassembled', (t) => {
  const f = new LineFramer(100);
  const out: Frame[] = [];
  for (const b of bytes('hello\n')) out.push(...f.push(Uint8Array.of(b)));
  t.same(texts(out), ['hello']);
  t.end();
});

t.test('a multi-byte UTF-8 character split across chunks decodes intact', (t) => {
  const f = new LineFramer(100);
  const line = bytes('{"name":"é€😀"}\n');
  // Split inside the 4-byte emoji and inside the 3-byte euro sign.
  const emoji = line.indexOf(0xf0);
  const euro = line.indexOf(0xe2);
  t.same(f.push(line.subarray(0, euro + 1)), []);
  t.same(f.push(line.subarray(euro + 1, emoji + 2)), []);
  t.same(texts(f.push(line.subarray(emoji + 2))), ['{"name":"é€😀"}']);
  t.end();
});

t.test('empty lines and CRLF', (t) => {
  const f = new LineFramer(100);
  t.same(texts(f.push(bytes('\n\r\n{"a":1}\r\n\n'))), ['{"a":1}'], 'blank lines skipped, CR stripped');
  t.end();
});

t.test('invalid UTF-8 is reported per line and the stream goes on', (t) => {
  const f = new LineFramer(100);
  const chunk = Buffer.concat([Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), bytes('ok\n')]);
  t.same(texts(f.push(chunk)), ['<invalid-utf8>', 'ok']);
  t.end();
});

t.test('the cap: a line of exactly maxLineBytes passes, one byte more overflows', (t) => {
  const f = new LineFramer(5);
  t.same(texts(f.push(bytes('12345\n'))), ['12345']);
  t.same(texts(f.push(bytes('123456\n'))), ['<overflow>']);
  t.end();
});

t.test('overflow is reported before the newline arrives, once, and nothing follows', (t) => {
  const f = new LineFramer(8);
  t.same(f.push(bytes('1234')), []);
  t.same(texts(f.push(bytes('56789'))), ['<overflow>'], 'the partial line alone crosses the cap');
  t.same(f.push(bytes('more\n{"a":1}\n')), [], 'after an overflow the framer yields nothing');
  t.end();
});

t.test('complete lines before an overflowing one in the same chunk are still yielded', (t) => {
  const f = new LineFramer(4);
  t.same(texts(f.push(bytes('ab\ncd\nefghijk\nzz\n'))), ['ab', 'cd', '<overflow>']);
  t.end();
});

t.test('the chunk memory may be reused by the caller after push', (t) => {
  const f = new LineFramer(100);
  const chunk = bytes('abc');
  f.push(chunk);
  chunk.fill(0x41);
  t.same(texts(f.push(bytes('\n'))), ['abc']);
  t.end();
});

t.test('misuse throws', (t) => {
  t.throws(() => new LineFramer(0), RangeError);
  t.throws(() => new LineFramer(1.5), RangeError);
  t.end();
});
