// When this host was last in sync with a peer (docs/GOSSIP.md "Tombstone retention and long
// partitions"): the fact that tells a host it was away longer than gossip.tombstoneRetentionSeconds
// and must resync from its peers instead of pushing old records back. It outlives a restart, so it
// is kept on disk beside the journal (`<store.path>.contact`, `{"lastContactAt": ISO}`), written
// atomically, at most once per `minIntervalMs` (an in-sync round every few seconds must not become
// a disk write every few seconds). It is not a record: it is never replicated.
import { readFile } from 'node:fs/promises';
import { timestampProblem } from '../domain/records.js';
import type { Logger } from '../log/logger.js';
import { replaceFile } from './durable-fs.js';

export interface ContactMark {
  /** The last time this host was in sync with a peer; null when it never was (a new host, or gossip just turned on). */
  readonly lastContactAt: Date | null;
  /** This host is in sync with a peer at `at`: kept in memory now, on disk within minIntervalMs. */
  mark(at: Date): void;
  /** Writes a mark not yet on disk; then stops writing. */
  close(): Promise<void>;
}

export interface ContactMarkOptions {
  /** The file (`<store.path>.contact`). */
  readonly path: string;
  /** Fewest ms between two writes of the file. */
  readonly minIntervalMs: number;
  readonly logger: Logger;
}

/** The contact file's path for a store at `storePath`. */
export function contactPath(storePath: string): string {
  return `${storePath}.contact`;
}

/**
 * Reads the mark. A missing file is "never in contact" (null). A file that cannot be read or does
 * not hold a sound timestamp is logged and taken as the epoch: this host cannot tell how long it
 * was away, so it resyncs (fail closed: it may drop a record only it held, never resurrect one).
 */
export async function openContactMark(opts: ContactMarkOptions): Promise<ContactMark> {
  let last: Date | null = null;
  try {
    const parsed = JSON.parse(await readFile(opts.path, 'utf8')) as { lastContactAt?: unknown };
    if (timestampProblem(parsed.lastContactAt) !== null) throw new Error('lastContactAt is not an ISO-8601 UTC timestamp');
    last = new Date(parsed.lastContactAt as string);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      opts.logger.warn('gossip: the last-contact file is unreadable; this host will resync from its peers as one away too long', { path: opts.path, err });
      last = new Date(0);
    }
  }
  /** When the file was last written (wall ms), and the mark it holds (ms). */
  let writtenAt = 0;
  let onDisk: number | null = last?.getTime() ?? null;
  let writing: Promise<void> | null = null;
  let closed = false;
  const flush = (): Promise<void> => {
    if (last === null) return Promise.resolve();
    const text = JSON.stringify({ lastContactAt: last.toISOString() }) + '\n';
    writtenAt = Date.now();
    onDisk = last.getTime();
    return replaceFile(opts.path, [text]).then(
      () => undefined,
      (err: unknown) => opts.logger.warn('gossip: could not write the last-contact file', { path: opts.path, err }),
    );
  };
  return {
    get lastContactAt() {
      return last;
    },
    mark(at) {
      last = at;
      if (closed || writing !== null || Date.now() - writtenAt < opts.minIntervalMs) return;
      writing = flush().finally(() => (writing = null));
    },
    async close() {
      closed = true;
      await writing;
      if (last !== null && onDisk !== last.getTime()) await flush();
    },
  };
}
