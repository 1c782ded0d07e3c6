export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Structured log lines; never pass record values unless you mean to log them. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger whose lines also carry `fields`. */
  with(fields: Record<string, unknown>): Logger;
  /** Where the lines go, so other lines (the handler's metrics) can go there too. */
  readonly sink?: LogSink;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Where log lines go: stdout in Lambda (CloudWatch), stderr in the CLI. */
export type LogSink = (line: string) => void;

export function createLogger(
  sink: LogSink = (line) => process.stdout.write(`${line}\n`),
  level: LogLevel = (process.env.DOGEAR_LOG_LEVEL as LogLevel | undefined) ?? 'info',
  base: Record<string, unknown> = {},
): Logger {
  const min = RANK[level] ?? RANK.info;
  const emit = (lvl: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] < min) return;
    sink(
      JSON.stringify({ level: lvl, message, ...base, ...fields, time: new Date().toISOString() }),
    );
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    with: (fields) => createLogger(sink, level, { ...base, ...fields }),
    sink,
  };
}
