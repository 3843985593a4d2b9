// A single linear pass over a request line before JSON.parse sees it. It answers two questions
// JSON.parse cannot answer cheaply or at all: how deeply the text nests (a megabyte of brackets
// costs JSON.parse half a second, so a line nesting deeper than a small bound is refused unparsed)
// and what the exact text of each request's numeric `id` is (JSON.parse rounds 9007199254740993
// to ...992, but JSON-RPC 2.0 wants the id echoed as sent). Pure; its cost is one read of the line.

/** What one scan found. */
export interface JsonScan {
  /** The deepest nesting of arrays and objects reached, counted up to `maxDepth + 1` and no further. */
  readonly depth: number;
  /** True when the text nests deeper than `maxDepth`: the scan stopped there, `ids` is incomplete. */
  readonly tooDeep: boolean;
  /**
   * The source text of numeric `id` members, keyed by request: -1 for a top-level object, the
   * element index for the objects of a top-level array (a batch). A key is present only when the
   * last `id` member of that object is a number; string and null ids need no original text.
   */
  readonly numericIds: ReadonlyMap<number, string>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** The key of the top-level request in `numericIds`. */
export const TOP_LEVEL = -1;

/**
 * Scans `text` once. It never throws and never allocates more than the id texts it keeps; on text
 * that is not JSON its answer is meaningless but bounded (JSON.parse then reports the error).
 * @param maxDepth the deepest nesting accepted (1 is `{}` or `[]`).
 */
export function scanJson(text: string, maxDepth: number): JsonScan {
  const numericIds = new Map<number, string>();
  let depth = 0;
  let maxSeen = 0;
  let topIsArray = false;
  let element = 0;
  /** Within an object at a request level: the key just read was "id", its value comes next. */
  let idKeyPending = false;
  /** Where the last string token starts and ends: it is a key when a colon follows it. */
  let lastStringStart = -1;
  let lastStringEnd = -1;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      i = endOfString(text, i + 1);
      lastStringStart = start;
      lastStringEnd = i + 1;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (depth === 0) topIsArray = c === OPEN_BRACKET;
      depth += 1;
      idKeyPending = false;
      if (depth > maxSeen) maxSeen = depth;
      if (depth > maxDepth) return { depth: maxSeen, tooDeep: true, numericIds };
      continue;
    }
    if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth -= 1;
      idKeyPending = false;
      continue;
    }
    if (c === COMMA) {
      if (topIsArray && depth === 1) element += 1;
      idKeyPending = false;
      continue;
    }
    if (c === COLON) {
      const requestLevel = topIsArray ? depth === 2 : depth === 1;
      idKeyPending = requestLevel && lastStringEnd === i - countSpaceBefore(text, i) && isIdKey(text, lastStringStart, lastStringEnd);
      continue;
    }
    if (idKeyPending && (c === 0x2d || (c >= 0x30 && c <= 0x39))) {
      let end = i + 1;
      while (end < n && isNumberChar(text.charCodeAt(end))) end += 1;
      numericIds.set(topIsArray ? element : TOP_LEVEL, text.slice(i, end));
      idKeyPending = false;
      i = end - 1;
      continue;
    }
    if (!isSpace(c)) {
      // Any other value (true, false, null) ends the id member without a number: a later
      // duplicate "id" still wins, as in JSON.parse, and an earlier numeric one no longer counts.
      if (idKeyPending) numericIds.delete(topIsArray ? element : TOP_LEVEL);
      idKeyPending = false;
    }
  }
  return { depth: maxSeen, tooDeep: false, numericIds };

  /** The index of the quote closing the string opened before `from`. A string value of `id` replaces an earlier numeric one. */
  function endOfString(s: string, from: number): number {
    let j = from;
    while (j < n) {
      const d = s.charCodeAt(j);
      if (d === BACKSLASH) j += 2;
      else if (d === QUOTE) break;
      else j += 1;
    }
    if (idKeyPending) numericIds.delete(topIsArray ? element : TOP_LEVEL);
    idKeyPending = false;
    return j;
  }
}

function isIdKey(text: string, start: number, end: number): boolean {
  if (start < 0) return false;
  const raw = text.slice(start, end);
  if (raw === '"id"') return true;
  // A key written with escapes ("\u0069d") is still "id"; such keys are short, so decode them.
  if (end - start > 16 || !raw.includes('\\')) return false;
  try {
    return JSON.parse(raw) === 'id';
  } catch {
    return false;
  }
}

/** How many whitespace characters stand right before position `i`. */
function countSpaceBefore(text: string, i: number): number {
  let k = 0;
  while (i - k - 1 >= 0 && isSpace(text.charCodeAt(i - k - 1))) k += 1;
  return k;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x2b || c === 0x65 || c === 0x45;
}
