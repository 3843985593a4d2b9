// Reads the text of `ovs-ofctl dump-flows BR --no-stats --no-names` into canonical Flows. Pure.
//
// A line is ` HEADER, HEADER, MATCH actions=ACTIONS`, where the headers are `cookie=0x..` (absent
// when 0), `table=N` (absent when 0) and any attribute of the flow such as `idle_timeout=N`, and
// MATCH is `priority=N,field,...` (priority absent when it is the default 32768). When both the
// priority and the match are empty, the last header keeps its comma: ` cookie=0x1, actions=drop`.
import { canonicalActions, canonicalMatch, type Flow } from './flow.js';
import { OvsError } from './runner.js';

const DEFAULT_PRIORITY = 32768;
const HEADER_LINE = /^(NXST|OFPST)_FLOW reply\b/;
const COOKIE = /^cookie=0x([0-9a-f]{1,16})$/;
const TABLE = /^table=(\d{1,3})$/;
const PRIORITY = /^priority=(\d{1,5})$/;
/** A header attribute as OVS prints them: `word` or `word=value`. */
const ATTRIBUTE = /^[a-z_]+(=[^\s,]+)?$/;
const ACTIONS = ' actions=';
/** How much of an unreadable line an error message quotes. */
const MAX_SHOWN = 300;
/** A flow update of `ovs-ofctl monitor`; the cookie is printed with `%#PRIx64` (0 as `0`). */

/**
 * Parses a dump; throws OvsError('bad-output') naming the first line it cannot read.
 *
 * Attributes our flows never carry (timeouts, importance, flags) are kept in `actions`, after
 * the actions in brackets (`drop [idle_timeout=60]`): such a flow then never equals a desired
 * one, so a reconcile replaces it with an `add` (same key) or removes it with a `delete_strict`
 * (which needs only the key, and would refuse those attributes anyway).
 */
export function parseDumpFlows(text: string): Flow[] {
  return dumpLines(text).map(parseFlowLine);
}

/** The flow lines of a dump as printed, in order: the reply headers and blank lines left out. */
export function dumpLines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '' && !HEADER_LINE.test(line));
}

/** One flow line of a dump (not a reply header); throws OvsError('bad-output') naming it. */
export function parseFlowLine(line: string): Flow {
  const shown = line.length > MAX_SHOWN ? `${line.slice(0, MAX_SHOWN)}…` : line;
  const bad = (why: string): OvsError => new OvsError('bad-output', `cannot read dump-flows line (${why}): ${JSON.stringify(shown)}`);
  const at = line.indexOf(ACTIONS);
  if (at < 0) throw bad('no actions');
  const actionsText = line.slice(at + ACTIONS.length).trim();
  if (actionsText === '') throw bad('empty actions');

  let head = line.slice(0, at).trim();
  // A trailing comma means the last header is not followed by a priority/match part.
  const hasMatchPart = head !== '' && !head.endsWith(',');
  if (!hasMatchPart) head = head.replace(/,$/, '');
  const segments = head === '' ? [] : head.split(', ');
  const matchPart = hasMatchPart ? (segments.pop() ?? '') : '';

  let cookie = 0n;
  let table = 0;
  const extras: string[] = [];
  for (const segment of segments) {
    if (segment.startsWith('cookie=')) {
      const hex = COOKIE.exec(segment)?.[1];
      if (hex === undefined) throw bad('bad cookie');
      cookie = BigInt(`0x${hex}`);
    } else if (segment.startsWith('table=')) {
      const n = TABLE.exec(segment)?.[1];
      if (n === undefined) throw bad('bad table');
      table = Number(n);
    } else if (ATTRIBUTE.test(segment)) {
      extras.push(segment);
    } else {
      throw bad(`unexpected "${segment}"`);
    }
  }
  if (table > 254) throw bad('table out of range');

  const tokens = matchPart === '' ? [] : matchPart.split(',');
  let priority = DEFAULT_PRIORITY;
  const p = tokens[0] === undefined ? null : PRIORITY.exec(tokens[0]);
  if (p?.[1] !== undefined) {
    priority = Number(p[1]);
    tokens.shift();
    if (priority > 65535) throw bad('priority out of range');
  }
  if (tokens.some((tok) => tok === '' || /\s/.test(tok))) throw bad('malformed match');

  let match: string;
  try {
    match = tokens.length === 0 ? '' : canonicalMatch(tokens.join(','));
  } catch (err) {
    throw bad(err instanceof Error ? err.message : 'unreadable match');
  }
  const actions = canonicalActions(actionsText) + (extras.length > 0 ? ` [${extras.join(',')}]` : '');
  return { table, priority, cookie, match, actions };
}
