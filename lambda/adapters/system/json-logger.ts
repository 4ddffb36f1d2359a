// A Logger writing one JSON line per entry to a stream (local mode), filtered by level.
import type { LogFields, Logger } from '../../ports.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

export const isLogLevel = (value: string): value is LogLevel => value in LEVELS;

export const jsonLogger = (write: (line: string) => void, level: LogLevel = 'info'): Logger => {
  const threshold = LEVELS[level];
  // Lines of the same millisecond share their timestamp's text.
  let stampedAt = Number.NaN;
  let stamp = '';
  const timestamp = (): string => {
    const now = Date.now();
    if (now !== stampedAt) {
      stampedAt = now;
      stamp = new Date(now).toISOString();
    }
    return stamp;
  };
  const log = (name: LogLevel) => {
    const head = `{"level":"${name.toUpperCase()}","message":`;
    return (message: string, fields: LogFields = {}) => {
      if (LEVELS[name] < threshold) return;
      // Built as text rather than by spreading `fields` into a new object: this runs once per request.
      const rest = JSON.stringify(fields);
      const line = `${head}${JSON.stringify(message)},"timestamp":"${timestamp()}"`;
      write(rest.length <= 2 ? `${line}}\n` : `${line},${rest.slice(1)}\n`);
    };
  };
  return { info: log('info'), warn: log('warn'), error: log('error') };
};
