// A minimal OVSDB client (RFC 7047: JSON-RPC 1.0 over a Unix socket) for bench/ports.bench.ts:
// the floor of what `ovs-vsctl` does for a patch pair, not a production client. One connection,
// `transact` with replies matched by id, `echo` answered, and one `monitor` whose updates keep a
// cache of the monitored rows (uuid → columns), so a caller can wait for vswitchd's `cur_cfg` and
// read `Interface.ofport` the way a long-lived client would, without polling. No reconnect, no
// size caps, no schema checks: a bench fails loudly on anything unexpected.
import { connect, type Socket } from 'node:net';

/** An OVSDB value as the wire carries it (atoms, ["set", …], ["map", …], ["uuid", …], …). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One row of a monitored table: column → wire value. */
export type Row = Record<string, Json>;

export interface OvsdbClient {
  /** Runs one transaction; resolves with the per-operation results, rejects on an RPC or operation error. */
  transact(ops: readonly Json[]): Promise<Json[]>;
  /**
   * Starts the monitor (once per client): the listed columns of each table, cached from the
   * initial reply and every later `update`.
   */
  monitor(tables: Readonly<Record<string, readonly string[]>>): Promise<void>;
  /** The cached rows of a monitored table (live view). */
  rows(table: string): ReadonlyMap<string, Row>;
  /** Resolves once `cond()` holds after an update (or at once); rejects after `timeoutMs`. */
  waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void>;
  close(): void;
}

const DB = 'Open_vSwitch';
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = 0x7b;
const CLOSE = 0x7d;

/** Connects to `<rundir>/db.sock` (or any ovsdb-server Unix socket path). */
export function connectOvsdb(socketPath: string): Promise<OvsdbClient> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    sock.once('error', reject);
    sock.once('connect', () => {
      sock.off('error', reject);
      resolve(clientOn(sock));
    });
  });
}

function clientOn(sock: Socket): OvsdbClient {
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: Json) => void; reject: (e: Error) => void }>();
  const cache = new Map<string, Map<string, Row>>();
  const waiters = new Set<() => void>();
  let failure: Error | null = null;

  const fail = (err: Error): void => {
    failure ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    for (const w of [...waiters]) w();
  };

  const send = (msg: Json): void => void sock.write(JSON.stringify(msg));

  const call = (method: string, params: Json[]): Promise<Json> => {
    if (failure !== null) return Promise.reject(failure);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      send({ method, params, id });
    });
  };

  const applyUpdates = (updates: Json): void => {
    if (updates === null || typeof updates !== 'object' || Array.isArray(updates)) throw new Error(`bad table-updates: ${JSON.stringify(updates)}`);
    for (const [table, rowsOf] of Object.entries(updates)) {
      let t = cache.get(table);
      if (t === undefined) cache.set(table, (t = new Map<string, Row>()));
      for (const [uuid, change] of Object.entries(rowsOf as Record<string, { new?: Row }>)) {
        if (change.new === undefined) t.delete(uuid);
        else t.set(uuid, { ...t.get(uuid), ...change.new });
      }
    }
    for (const w of [...waiters]) w();
  };

  const onMessage = (msg: { id?: Json; method?: string; params?: Json[]; result?: Json; error?: Json }): void => {
    if (msg.method === 'echo') send({ id: msg.id ?? null, result: msg.params ?? [], error: null });
    else if (msg.method === 'update') applyUpdates(msg.params?.[1] ?? null);
    else if (typeof msg.id === 'number') {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (p === undefined) return;
      if (msg.error !== null && msg.error !== undefined) p.reject(new Error(`ovsdb: ${JSON.stringify(msg.error)}`));
      else p.resolve(msg.result ?? null);
    }
  };

  // ovsdb-server sends JSON texts back to back with no delimiter: split on balanced braces
  // outside strings. Each chunk is scanned once by char code (indexing a string grown by `+=`
  // made a 700 KB reply cost 50 ms); a text spanning chunks is kept as pieces until it ends.
  const pieces: string[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
      } else if (c === QUOTE) inString = true;
      else if (c === OPEN) depth++;
      else if (c === CLOSE && --depth === 0) {
        pieces.push(chunk.slice(start, i + 1));
        start = i + 1;
        const text = pieces.join('');
        pieces.length = 0;
        try {
          onMessage(JSON.parse(text) as Parameters<typeof onMessage>[0]);
        } catch (e) {
          fail(e instanceof Error ? e : new Error(String(e)));
        }
      }
    }
    if (start < chunk.length) pieces.push(chunk.slice(start));
  });
  sock.on('error', (e) => fail(e));
  sock.on('close', () => fail(new Error('ovsdb connection closed')));

  return {
    async transact(ops) {
      const result = await call('transact', [DB, ...ops]);
      if (!Array.isArray(result)) throw new Error(`ovsdb transact: not an array: ${JSON.stringify(result)}`);
      const bad = result.find((r) => r !== null && typeof r === 'object' && !Array.isArray(r) && 'error' in r);
      if (bad !== undefined || result.length < ops.length) throw new Error(`ovsdb transact failed: ${JSON.stringify(result)}`);
      return result;
    },

    async monitor(tables) {
      const requests = Object.fromEntries(Object.entries(tables).map(([table, columns]) => [table, { columns: [...columns] }]));
      applyUpdates(await call('monitor', [DB, null, requests]));
    },

    rows: (table) => cache.get(table) ?? new Map<string, Row>(),

    waitFor(what, cond, timeoutMs) {
      if (cond()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (failure !== null) done(failure);
          else if (cond()) done(null);
        };
        const done = (err: Error | null): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err === null) resolve();
          else reject(err);
        };
        const timer = setTimeout(() => done(new Error(`ovsdb: ${what} not within ${timeoutMs} ms`)), timeoutMs);
        waiters.add(check);
      });
    },

    close: () => void sock.destroy(),
  };
}
