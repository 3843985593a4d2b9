// Talks to the daemon's socket below the client: raw bytes in, reply lines out. For the framing
// and protocol-error tests, which must send what a well-behaved client never would.
import { connect } from 'node:net';

export interface RawResult {
  readonly lines: unknown[];
  /** True when the daemon closed the connection. */
  readonly closed: boolean;
}

/** Sends `data`, then collects reply lines until `expect` lines arrived or the daemon closed. */
export function rawExchange(path: string, data: string | Buffer, expect: number, timeoutMs = 5000): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buf = '';
    const lines: unknown[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no ${expect} reply lines within ${timeoutMs} ms; got ${JSON.stringify(lines)}`));
    }, timeoutMs);
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ lines, closed });
    };
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
      if (lines.length >= expect && expect > 0) finish(false);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    socket.write(data);
  });
}
