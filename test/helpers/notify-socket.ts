// A fake systemd notify socket: a unix datagram listener (unix-dgram, as Node cannot bind one)
// that records each sd_notify message with its arrival time. Closed when the test ends.
import { join } from 'node:path';
import unix from 'unix-dgram';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface Notification {
  /** Date.now() when it arrived. */
  readonly at: number;
  readonly raw: string;
  readonly fields: Readonly<Record<string, string>>;
}

export interface NotifySocket {
  readonly path: string;
  readonly messages: Notification[];
  /** Resolves with the first message (from index `from`) that has `field` (and `value`, if given). */
  waitFor(field: string, opts?: { value?: string | RegExp; from?: number; timeoutMs?: number }): Promise<Notification>;
  /** Calls `fn` synchronously as each message arrives (before it is stored). */
  onMessage(fn: (n: Notification) => void): void;
}

export async function listenNotify(t: Teardown, dir: string): Promise<NotifySocket> {
  const path = join(dir, 'notify.sock');
  const messages: Notification[] = [];
  const listeners: ((n: Notification) => void)[] = [];
  const socket = unix.createSocket('unix_dgram', (buf) => {
    const raw = buf.toString('utf8');
    const fields: Record<string, string> = {};
    for (const line of raw.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
    }
    const n = { at: Date.now(), raw, fields };
    for (const fn of listeners) fn(n);
    messages.push(n);
  });
  await new Promise<void>((resolve, reject) => {
    socket.on('listening', resolve);
    socket.on('error', reject);
    socket.bind(path);
  });
  t.teardown(() => socket.close());

  return {
    path,
    messages,
    onMessage: (fn) => listeners.push(fn),
    waitFor(field, { value, from = 0, timeoutMs = 15_000 } = {}) {
      const matches = (n: Notification): boolean => {
        const v = n.fields[field];
        if (v === undefined) return false;
        if (value === undefined) return true;
        return typeof value === 'string' ? v === value : value.test(v);
      };
      return new Promise((resolve, reject) => {
        const found = messages.slice(from).find(matches);
        if (found) return resolve(found);
        const timer = setTimeout(() => reject(new Error(`no ${field}= within ${timeoutMs} ms; got:\n${messages.map((m) => m.raw).join('\n--\n')}`)), timeoutMs);
        listeners.push((n) => {
          if (!matches(n)) return;
          clearTimeout(timer);
          resolve(n);
        });
      });
    },
  };
}
