// The one error of the OVSDB client's pure layers (framing, message validation, values, the
// monitor cache): what ovsdb-server sent cannot be read. The connection (client.ts) turns it into
// OvsError 'bad-output' for the calls it fails; nothing in these layers throws anything else on
// input from the wire.

/**
 * - `frame-too-large`: one JSON text longer than the cap (framing.ts);
 * - `not-json`: a text that does not parse, or a stream that does not start a JSON object;
 * - `bad-message`: JSON that is not a reply, an `update` notification or an `echo` request;
 * - `bad-value`: an OVSDB value not of the column's type (RFC 7047 §5.1);
 * - `bad-update`: table-updates that do not fit the cache (a modify of a row never seen, ...).
 */
export type OvsdbProtocolErrorCode = 'frame-too-large' | 'not-json' | 'bad-message' | 'bad-value' | 'bad-update';

export class OvsdbProtocolError extends Error {
  override readonly name = 'OvsdbProtocolError';
  constructor(
    readonly code: OvsdbProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const EXCERPT = 120;

/** A short JSON excerpt of a value for an error message; never throws (cycles, depth, BigInt). */
export function excerpt(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = Object.prototype.toString.call(v);
  }
  return text.length > EXCERPT ? `${text.slice(0, EXCERPT)}…` : text;
}
