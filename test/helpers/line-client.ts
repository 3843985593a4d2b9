// A raw line connection to the daemon for hostile-client tests: writes anything, reads reply lines
// as text (unparsed, so a test can see an id's exact digits), and measures the daemon's memory.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

export interface LineConnection {
  readonly socket: Socket;
  /** The next reply line as text; rejects after `timeoutMs` or when the connection closes first. */
  next(timeoutMs?: number): Promise<string>;
  /** Resolves when the daemon (or we) closed the connection. */
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

export function openLine(path: string): Promise<LineConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const lines: string[] = [];
    let waiter: ((line: string | null) => void) | null = null;
    let buffered = '';
    let closed = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (waiter) {
          const w = waiter;
          waiter = null;
          w(line);
        } else lines.push(line);
      }
    });
    socket.on('error', () => undefined);
    const closedPromise = new Promise<void>((r) =>
      socket.once('close', () => {
        closed = true;
        waiter?.(null);
        r();
      }),
    );
    const next = (timeoutMs = 5000): Promise<string> => {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(line);
      if (closed) return Promise.reject(new Error('connection closed before a reply'));
      return new Promise((res, rej) => {
        const timer = setTimeout(() => {
          waiter = null;
          rej(new Error(`no reply line within ${timeoutMs} ms`));
        }, timeoutMs);
        waiter = (l) => {
          clearTimeout(timer);
          if (l === null) rej(new Error('connection closed before a reply'));
          else res(l);
        };
      });
    };
    socket.once('connect', () => resolve({ socket, next, closed: closedPromise, isClosed: () => closed }));
    socket.once('error', reject);
  });
}

/** A process's resident memory now and at its peak (VmRSS, VmHWM), in MiB, from /proc. */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

/** The median of `values` (which it sorts). */
export function median(values: number[]): number {
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)] ?? NaN;
}
