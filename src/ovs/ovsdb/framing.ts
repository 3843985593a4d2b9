// The stream framing of OVSDB's JSON-RPC (RFC 7047 §4: JSON texts back to back, no delimiter):
// bytes in, one parsed JSON object per complete text out. Pure and incremental: a text may
// arrive in any number of chunks, several texts in one. A text is found by its balanced braces
// outside strings; JSON-RPC messages are objects, so the stream must be whitespace and objects
// only. Each text is bounded (`maxMessageBytes`); past the bound, or on anything that is not an
// object, it throws OvsdbProtocolError and stays failed: the stream can no longer be followed,
// only a new connection (and a new splitter) recovers.
//
// It scans bytes, not characters: the delimiters it looks at are ASCII, and no byte of a
// multi-byte UTF-8 sequence is ASCII, so a character split across chunks needs no care until
// the whole text is decoded at once.
import { OvsdbProtocolError } from './errors.js';

/** A cap on one message: 64 MiB holds the initial monitor reply of a host of ~100,000 ports. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

export class JsonTextSplitter {
  private readonly maxMessageBytes: number;
  /** The pieces of the text under way (its start, from earlier chunks). */
  private pieces: Buffer[] = [];
  private pieceBytes = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private failure: OvsdbProtocolError | null = null;

  constructor(opts: { readonly maxMessageBytes?: number } = {}) {
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Bytes of a text begun and not yet ended (0 between texts). */
  get buffered(): number {
    return this.pieceBytes;
  }

  /** The objects completed by `chunk`, in order. Throws OvsdbProtocolError (then and on every later call) on a broken stream. */
  push(chunk: Buffer): object[] {
    if (this.failure) throw this.failure;
    try {
      return this.scan(chunk);
    } catch (err) {
      if (err instanceof OvsdbProtocolError) this.failure = err;
      throw err;
    }
  }

  private scan(chunk: Buffer): object[] {
    const out: object[] = [];
    let start = this.depth > 0 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (this.depth === 0) {
        if (SPACE.has(c)) continue;
        if (c !== OPEN) throw new OvsdbProtocolError('not-json', `the stream holds 0x${c.toString(16)} where a JSON object must start`);
        this.depth = 1;
        start = i;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
      } else if (c === QUOTE) this.inString = true;
      else if (c === OPEN) this.depth++;
      else if (c === CLOSE && --this.depth === 0) {
        this.take(chunk.subarray(start, i + 1));
        out.push(this.finish());
        start = -1;
      }
    }
    if (this.depth > 0) this.take(chunk.subarray(start));
    return out;
  }

  private take(piece: Buffer): void {
    this.pieceBytes += piece.length;
    if (this.pieceBytes > this.maxMessageBytes) {
      throw new OvsdbProtocolError('frame-too-large', `a JSON text of more than ${this.maxMessageBytes} bytes`);
    }
    this.pieces.push(piece);
  }

  private finish(): object {
    const text = (this.pieces.length === 1 ? (this.pieces[0] as Buffer) : Buffer.concat(this.pieces)).toString('utf8');
    this.pieces = [];
    this.pieceBytes = 0;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new OvsdbProtocolError('not-json', `a text that is not JSON: ${(err as Error).message}`);
    }
    // Balanced braces around something JSON.parse reads are an object, but say so to the types.
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new OvsdbProtocolError('not-json', 'a text that is not a JSON object');
    return value;
  }
}
