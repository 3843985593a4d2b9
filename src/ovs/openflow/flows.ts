// Between the daemon's canonical flows (flow.ts: match and actions as canonical text) and the
// typed flows of the OpenFlow codec (messages.ts). Pure.
import { canonicalActions, parseMatch, renderMatch, type Flow } from '../flow.js';
import { OFPP_NORMAL, OfCodecError, type Action, type OfFlow, type ReportedFlow } from './messages.js';

/**
 * The typed flow of one of ours: its match parsed (parseMatch), its actions read from `drop`,
 * `NORMAL` or `output:N[,output:N…]` (any of them in a list; `drop` alone). Throws
 * MatchSyntaxError (flow.ts) for a match it cannot read and OfCodecError('unsupported_field')
 * for another action; whether the match has an OXM encoding is the codec's to say
 * (encodeMessage throws OfCodecError when it has not).
 */
export function toOfFlow(f: Flow): OfFlow {
  return { table: f.table, priority: f.priority, cookie: f.cookie, match: parseMatch(f.match), actions: parseActions(f.actions) };
}

/**
 * The canonical flow of a reported one (renderMatch of its match, canonical actions text:
 * `drop`, `NORMAL`, `output:N`), or null when the codec could not type its match or its actions:
 * such a flow is not one of ours as written, and only its raw match can address it.
 */
export function fromReported(r: ReportedFlow): Flow | null {
  if (r.match === null || r.actions === null) return null;
  return { table: r.table, priority: r.priority, cookie: r.cookie, match: renderMatch(r.match), actions: actionsText(r.actions) };
}

/** The canonical actions text of typed actions ('drop' for none). */
export function actionsText(actions: readonly Action[]): string {
  if (actions.length === 0) return 'drop';
  return actions.map((a) => (a.port === OFPP_NORMAL ? 'NORMAL' : `output:${a.port}`)).join(',');
}

function parseActions(text: string): Action[] {
  const canonical = canonicalActions(text);
  if (canonical === 'drop') return [];
  return canonical.split(',').map((token): Action => {
    if (token === 'NORMAL') return { type: 'output', port: OFPP_NORMAL };
    const m = /^output:(\d{1,10})$/.exec(token);
    const port = m === null ? Number.NaN : Number(m[1]);
    if (!Number.isInteger(port) || port > 0xffffff00) throw new OfCodecError('unsupported_field', `action "${token}" of "${text}"`);
    return { type: 'output', port };
  });
}
