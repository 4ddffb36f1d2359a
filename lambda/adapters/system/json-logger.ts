// A Logger writing one JSON line per entry to a stream (local mode), filtered by level.
import type { LogFields, Logger } from '../../ports.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

export const isLogLevel = (value: string): value is LogLevel => value in LEVELS;

export const jsonLogger = (write: (line: string) => void, level: LogLevel = 'info'): Logger => {
  const threshold = LEVELS[level];
  const log =
    (name: LogLevel) =>
    (message: string, fields: LogFields = {}) => {
      if (LEVELS[name] < threshold) return;
      write(
        `${JSON.stringify({ level: name.toUpperCase(), message, timestamp: new Date().toISOString(), ...fields })}\n`,
      );
    };
  return { info: log('info'), warn: log('warn'), error: log('error') };
};
