// JSON-lines logging on stdout (journald picks it up). One object per line: time, level, msg,
// then fields. Keys that name secrets are redacted wherever they appear, so a token passed in a
// field by mistake never reaches the log.

export const LogLevels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LogLevels)[number];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line; it shares the level with its parent. */
  child(fields: LogFields): Logger;
  setLevel(level: LogLevel): void;
}

export interface LogSink {
  write(line: string): unknown;
}

const SECRET_KEY = /token|secret|password|auth|authorization|key$/i;
const MAX_DEPTH = 6;

/** Copies `value`, replacing what sits under a secret-looking key with "[redacted]". */
export function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

export function createLogger(opts: { level: LogLevel; sink?: LogSink; fields?: LogFields }): Logger {
  const shared = { rank: LogLevels.indexOf(opts.level) };
  const sink = opts.sink ?? process.stdout;
  return make(shared, sink, opts.fields ?? {});
}

function make(shared: { rank: number }, sink: LogSink, base: LogFields): Logger {
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LogLevels.indexOf(level) < shared.rank) return;
    const record = redact({ ...base, ...fields }) as Record<string, unknown>;
    sink.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...record }) + '\n');
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => make(shared, sink, { ...base, ...fields }),
    setLevel: (level) => {
      shared.rank = LogLevels.indexOf(level);
    },
  };
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return createLogger({ level: 'error', sink: { write: () => undefined } });
}
