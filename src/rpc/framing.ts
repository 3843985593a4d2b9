// Newline-delimited framing: bytes in, complete lines out. Pure (no I/O), so it is tested with raw
// bytes. Lines are split on the 0x0A byte, which never occurs inside a multi-byte UTF-8 sequence,
// and decoded only once complete, so a character split across chunks is reassembled intact.

/** What one `push` yields, in order. */
export type Frame =
  | { readonly kind: 'line'; readonly text: string }
  /** The line's bytes are not valid UTF-8; the peer gets a parse error, the stream goes on. */
  | { readonly kind: 'invalid-utf8' }
  /** A line grew past `maxLineBytes`: yielded once, after which the framer yields nothing. */
  | { readonly kind: 'overflow' };

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

export class LineFramer {
  readonly maxLineBytes: number;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  /** Bytes of the line being received, not yet terminated. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private overflowed = false;

  /** Bytes held for the line not yet terminated (what a slow or stalled peer costs us). */
  get pendingBytes(): number {
    return this.partialBytes;
  }

  /** @param maxLineBytes the longest accepted line, newline excluded. */
  constructor(maxLineBytes: number) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
    }
    this.maxLineBytes = maxLineBytes;
  }

  /**
   * Feeds a chunk; returns the frames it completes. Empty lines (and a bare "\r") are skipped so
   * that a human typing into `nc -U` can press Enter twice without getting an error.
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.overflowed) return [];
    const frames: Frame[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.partialBytes + piece.length > this.maxLineBytes) return this.overflow(frames);
      const line = this.take(piece);
      const frame = this.decode(line);
      if (frame) frames.push(frame);
    }
    const rest = chunk.subarray(start);
    // Checked before the newline arrives, so a peer cannot make us buffer an endless line.
    if (this.partialBytes + rest.length > this.maxLineBytes) return this.overflow(frames);
    if (rest.length > 0) {
      // Copied: the caller may reuse the chunk's memory (net sockets may pool it).
      this.partial.push(Buffer.from(rest));
      this.partialBytes += rest.length;
    }
    return frames;
  }

  private overflow(frames: Frame[]): Frame[] {
    this.overflowed = true;
    this.partial = [];
    this.partialBytes = 0;
    frames.push({ kind: 'overflow' });
    return frames;
  }

  /** The buffered partial line joined with its final piece; resets the buffer. */
  private take(piece: Uint8Array): Uint8Array {
    if (this.partialBytes === 0) return piece;
    const line = Buffer.concat([...this.partial, piece]);
    this.partial = [];
    this.partialBytes = 0;
    return line;
  }

  private decode(line: Uint8Array): Frame | null {
    let end = line.length;
    if (end > 0 && line[end - 1] === CARRIAGE_RETURN) end -= 1;
    if (end === 0) return null;
    try {
      return { kind: 'line', text: this.decoder.decode(line.subarray(0, end)) };
    } catch {
      return { kind: 'invalid-utf8' };
    }
  }
}
