// The part of unix-dgram (CommonJS, no types of its own) that src/systemd/notify.ts uses.
declare module 'unix-dgram' {
  interface UnixDgramSocket {
    bind(path: string): void;
    send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: Error) => void): void;
    on(event: 'message', listener: (msg: Buffer) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'listening', listener: () => void): this;
    close(): void;
  }
  const unix: { createSocket(type: 'unix_dgram', listener?: (msg: Buffer) => void): UnixDgramSocket };
  export default unix;
}
