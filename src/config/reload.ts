// What a SIGHUP may change: the keys the running daemon can take without a restart, and the
// comparison of the running config with a freshly loaded one. A reload is all or nothing: one
// key that needs a restart refuses the whole new file, so the daemon never runs a mix of two.
import type { Config } from './schema.js';

/** Keys whose new value the running daemon takes on SIGHUP; any other change needs a restart. */
export const RELOADABLE_KEYS: ReadonlySet<string> = new Set([
  'log.level',
  'ovs.reconcileIntervalMs',
  'peering.sweepIntervalMs',
  'peering.pendingTtlSeconds',
  'peering.terminalRetentionSeconds',
  'peering.maxActivePerVpc',
  'gossip.peers',
  'gossip.tombstoneRetentionSeconds',
  'gossip.antiEntropyIntervalMs',
]);

export interface ReloadPlan {
  /** Every key whose value differs, as dotted paths (`gossip.peers`), sorted. */
  readonly changed: readonly string[];
  /** The changed keys that need a restart: when not empty, nothing is applied. */
  readonly refused: readonly string[];
}

/** Keys the file gives as one string that the parsed config holds as an object (`"host:port"`). */
const PARSED_AS_OBJECT = ['gossip.listen'];

export function planReload(running: Config, next: Config): ReloadPlan {
  // Name the key the operator wrote (`gossip.listen`), not a field of its parsed form (`gossip.listen.port`).
  const asWritten = (key: string): string => PARSED_AS_OBJECT.find((k) => key.startsWith(`${k}.`)) ?? key;
  const changed = [...new Set(changedKeys(running, next).map(asWritten))].sort();
  return { changed, refused: changed.filter((key) => !RELOADABLE_KEYS.has(key)) };
}

/** Leaf paths where `a` and `b` differ; arrays and null are compared as whole values. */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (isRecord(a) && isRecord(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedKeys(a[k], b[k], prefix === '' ? k : `${prefix}.${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
