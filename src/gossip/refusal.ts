// The refusals of the gossip protocol (docs/GOSSIP.md "Refusals"): what a peer's bytes can be
// refused for, as stable codes. The codec and the handshake return them, never throw them: a
// bad frame is the world misbehaving, and the transport closes that link, logs the code once
// with the peer's address and counts it by code.

/** Every refusal code, with the one-line meaning docs/GOSSIP.md gives it. */
export const RefusalCodes = {
  FRAME_TOO_LARGE: 'the frame is larger than the link allows',
  MALFORMED_FRAME: 'not a frame: too short, not JSON, or not {type, seq, body}',
  BAD_MAC: 'the frame MAC does not verify under this link\'s key (altered, forged, or from another link)',
  BAD_SEQUENCE: 'the sequence number is not the next one (a replayed, dropped or reordered frame)',
  UNKNOWN_FRAME_TYPE: 'a frame type this version does not know',
  BAD_BODY: 'the body does not have the shape its type requires',
  BAD_HANDSHAKE: 'a handshake message that is malformed, out of turn, or of another protocol version',
  BAD_PROOF: 'the peer could not prove it holds the shared secret',
  SAME_NODE: 'the peer has this daemon\'s own node id (a daemon dialled itself, or two share an id)',
} as const;

export type RefusalCode = keyof typeof RefusalCodes;

/** One refusal: a stable code and a sentence for the log (never containing key material). */
export interface Refusal {
  readonly code: RefusalCode;
  readonly message: string;
}

/** Either what was decoded or why it was refused. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly refusal: Refusal };

export function refuse(code: RefusalCode, message: string = RefusalCodes[code]): { readonly ok: false; readonly refusal: Refusal } {
  return { ok: false, refusal: { code, message } };
}
