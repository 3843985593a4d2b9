// sd_notify(3) without libsystemd: one datagram of `KEY=value` lines to $NOTIFY_SOCKET, sent from
// this process itself (unix-dgram), so the unit can keep NotifyAccess=main and WATCHDOG=1 counts.
// Node has no AF_UNIX datagram sockets of its own; the `systemd-notify` package spawns the
// binary (the sender is then a child: no WATCHDOG=1) — see docs/DECISIONS.md "Service".
// No NOTIFY_SOCKET: every send is a no-op, so the daemon runs the same outside systemd.
import type { Logger } from '../log/logger.js';

/** Where $NOTIFY_SOCKET points. */
export type NotifyAddress = { readonly kind: 'path'; readonly path: string } | { readonly kind: 'abstract'; readonly name: string };

/** The longest value sent in one field: systemd shows STATUS= in `systemctl status`, one line. */
export const MAX_FIELD_CHARS = 200;
const KEY = /^[A-Z][A-Z0-9_]*$/;
/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/** $NOTIFY_SOCKET as an address: an absolute path, `@name` (abstract namespace), or null (unset or unusable). */
export function parseNotifySocket(value: string | undefined): NotifyAddress | null {
  if (value === undefined || value === '') return null;
  if (value.startsWith('@')) return value.length > 1 ? { kind: 'abstract', name: value.slice(1) } : null;
  if (!value.startsWith('/') || Buffer.byteLength(value) > MAX_SOCKET_PATH_BYTES) return null;
  return { kind: 'path', path: value };
}

/**
 * One line of printable text: control characters (newline above all, which would start a new
 * `KEY=` field in the datagram) become spaces, runs of spaces collapse, and the result is cut
 * to `max` characters (whole code points, with an ellipsis).
 */
export function sanitizeField(text: string, max = MAX_FIELD_CHARS): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  const chars = [...flat];
  return chars.length <= max ? flat : `${chars.slice(0, max - 1).join('')}…`;
}

/** The datagram for `fields`, values sanitised. A bad key is a bug of the caller: it throws. */
export function formatNotification(fields: Readonly<Record<string, string>>): string {
  return Object.entries(fields)
    .map(([key, value]) => {
      if (!KEY.test(key)) throw new Error(`sd_notify: invalid field name ${JSON.stringify(key)}`);
      return `${key}=${sanitizeField(value)}`;
    })
    .join('\n');
}

export interface Notifier {
  /** False when there is no NOTIFY_SOCKET (or it cannot be used): send() does nothing. */
  readonly enabled: boolean;
  /** Sends `fields` as one datagram; never throws (a lost notification is logged, not fatal). */
  send(fields: Readonly<Record<string, string>>): void;
  close(): void;
}

/** The part of unix-dgram's socket that is used here. */
interface DatagramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error) => void): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(): void;
}

export interface NotifierOptions {
  /** $NOTIFY_SOCKET. */
  readonly socket: string | undefined;
  readonly logger: Logger;
  /** Opens a datagram socket; by default unix-dgram's, loaded only when there is a NOTIFY_SOCKET. */
  readonly openSocket?: () => Promise<DatagramSocket>;
}

const DISABLED: Notifier = { enabled: false, send: () => undefined, close: () => undefined };

export async function createNotifier(opts: NotifierOptions): Promise<Notifier> {
  const { logger } = opts;
  const address = parseNotifySocket(opts.socket);
  if (address === null) {
    if (opts.socket) logger.error('NOTIFY_SOCKET is not an absolute path or @name: no sd_notify', { notifySocket: opts.socket });
    return DISABLED;
  }
  if (address.kind === 'abstract') {
    // unix-dgram copies the address with strncpy and passes sizeof(sockaddr_un) as its length,
    // so an abstract name (a leading NUL, an exact length) cannot be expressed; nor can pure
    // Node send a datagram at all. systemd itself hands services a path (/run/systemd/notify).
    logger.error('NOTIFY_SOCKET is an abstract socket, which this daemon cannot address: no sd_notify', { notifySocket: opts.socket });
    return DISABLED;
  }
  let socket: DatagramSocket;
  try {
    socket = await (opts.openSocket ?? openUnixDgram)();
  } catch (err) {
    logger.error('cannot open a datagram socket for sd_notify: no sd_notify', { err });
    return DISABLED;
  }
  socket.on('error', (err) => logger.warn('sd_notify socket error', { err }));
  let failing = false;
  return {
    enabled: true,
    send(fields) {
      const message = Buffer.from(formatNotification(fields));
      socket.send(message, 0, message.length, address.path, (err) => {
        // Log the first failure of a run of them only: the watchdog sends every few seconds.
        if (err && !failing) logger.warn('sd_notify failed', { err, notifySocket: address.path });
        failing = err !== undefined && err !== null;
      });
    },
    close() {
      socket.close();
    },
  };
}

async function openUnixDgram(): Promise<DatagramSocket> {
  const { default: unix } = await import('unix-dgram');
  return unix.createSocket('unix_dgram');
}
