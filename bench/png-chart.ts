// A grouped bar chart as a PNG, in plain code (node:zlib for the deflate, nothing else): the
// benchmarks need one picture and no plotting package. Labels use a 3×5 pixel font, scaled.
import { deflateSync } from 'node:zlib';

/** One group of bars (say, one host count), one value per series. */
export interface BarGroup {
  readonly label: string;
  readonly values: readonly number[];
}

export interface BarChart {
  readonly title: string;
  readonly series: readonly string[];
  readonly groups: readonly BarGroup[];
  /** The unit printed after each bar's value. */
  readonly unit: string;
}

// 3×5 glyphs, rows top to bottom, '#' set.
const GLYPHS: Record<string, string> = {
  '0': '####.##.##.####', '1': '.#.##..#..#.###', '2': '###..#####..###', '3': '###..####..####',
  '4': '#.##.####..#..#', '5': '####..###..####', '6': '####..####.####', '7': '###..#..#..#..#',
  '8': '####.#####.####', '9': '####.####..####', '.': '.............#.', ',': '..........#.#..',
  ' ': '...............', '-': '......###......', '/': '..#..#.#.#..#..', '%': '#.#..#.#.#..#.#',
  '(': '.#.#..#..#...#.', ')': '.#...#..#..#.#.', ':': '....#.....#....', A: '.#.#.#####.##.#',
  B: '##.#.###.#.###.', C: '.###..#..#...##', D: '##.#.##.##.###.', E: '####..##.#..###', F: '####..##.#..#..',
  G: '.###..#.##.#.##', H: '#.##.#####.##.#', I: '###.#..#..#.###', J: '..#..#..##.#.#.', K: '#.##.###.#.##.#',
  L: '#..#..#..#..###', M: '#.########.##.#', N: '##.#.##.##.##.#', O: '.#.#.##.##.#.#.', P: '##.#.###.#..#..',
  Q: '.#.#.##.##.#.##', R: '##.#.###.#.##.#', S: '.###...#...###.', T: '###.#..#..#..#.', U: '#.##.##.##.####',
  V: '#.##.##.##.#.#.', W: '#.##.########.#', X: '#.##.#.#.#.##.#', Y: '#.##.#.#..#..#.', Z: '###..#.#.#..###',
};

const PALETTE: readonly (readonly [number, number, number])[] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40]];

class Canvas {
  readonly pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint8Array(width * height * 3).fill(255);
  }

  rect(x: number, y: number, w: number, h: number, [r, g, b]: readonly [number, number, number]): void {
    for (let j = Math.max(0, Math.floor(y)); j < Math.min(this.height, Math.floor(y + h)); j++) {
      for (let i = Math.max(0, Math.floor(x)); i < Math.min(this.width, Math.floor(x + w)); i++) {
        const o = (j * this.width + i) * 3;
        this.pixels[o] = r;
        this.pixels[o + 1] = g;
        this.pixels[o + 2] = b;
      }
    }
  }

  /** Text at (x, y), top left, `scale` pixels per font pixel; returns its width. */
  text(s: string, x: number, y: number, scale = 2, color: readonly [number, number, number] = [0, 0, 0]): number {
    let cx = x;
    for (const ch of s.toUpperCase()) {
      const g = GLYPHS[ch] ?? GLYPHS[' ']!;
      for (let k = 0; k < 15; k++) if (g[k] === '#') this.rect(cx + (k % 3) * scale, y + Math.floor(k / 3) * scale, scale, scale, color);
      cx += 4 * scale;
    }
    return cx - x;
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function encodePng(c: Canvas): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(c.width, 0);
  header.writeUInt32BE(c.height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const raw = Buffer.alloc((c.width * 3 + 1) * c.height);
  for (let y = 0; y < c.height; y++) {
    raw[y * (c.width * 3 + 1)] = 0; // filter: none
    Buffer.from(c.pixels.buffer, y * c.width * 3, c.width * 3).copy(raw, y * (c.width * 3 + 1) + 1);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** The chart as PNG bytes: one group of bars per entry of `groups`, a legend, values on the bars. */
export function barChartPng(chart: BarChart): Buffer {
  const bar = 40;
  const gap = 50;
  const left = 40;
  const top = 70;
  const plotH = 260;
  const groupW = chart.series.length * bar + gap;
  const width = Math.max(left * 2 + chart.groups.length * groupW, 120 + chart.title.length * 8);
  const height = top + plotH + 60;
  const c = new Canvas(width, height);
  c.text(chart.title, 10, 10);
  let lx = 10;
  chart.series.forEach((name, i) => {
    c.rect(lx, 34, 12, 12, PALETTE[i % PALETTE.length]!);
    lx += 18 + c.text(name, lx + 18, 35) + 16;
  });
  const max = Math.max(...chart.groups.flatMap((g) => g.values), 1e-9);
  c.rect(left - 2, top, 2, plotH, [0, 0, 0]);
  c.rect(left - 2, top + plotH, width - left, 2, [0, 0, 0]);
  chart.groups.forEach((g, gi) => {
    const gx = left + gap / 2 + gi * groupW;
    g.values.forEach((v, si) => {
      const h = (v / max) * (plotH - 20);
      const x = gx + si * bar;
      c.rect(x + 2, top + plotH - h, bar - 4, h, PALETTE[si % PALETTE.length]!);
      c.text(v.toFixed(v < 100 ? 1 : 0), x + 2, top + plotH - h - 12, 2);
    });
    c.text(g.label, gx, top + plotH + 12);
  });
  c.text(chart.unit, 10, height - 18);
  return encodePng(c);
}
