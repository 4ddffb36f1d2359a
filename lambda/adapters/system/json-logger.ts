// A Logger writing one JSON line per entry to a stream (local mode), filtered by level.
import type { LogFields, Logger } from '../../ports.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

export const isLogLevel = (value: string): value is LogLevel => value in LEVELS;

export const jsonLogger = (write: (line: string) => void, level: LogLevel = 'info'): Logger => {
  const threshold = LEVELS[level];
  // Lines of the same millisecond share their timestamp's text, and those of the same second its first 20
  // characters (`2026-12-06T23:40:10.`): a new millisecond costs three digits, not a Date and toISOString.
  let stampedAt = Number.NaN;
  let stamp = '';
  let secondAt = Number.NaN;
  let secondText = '';
  const timestamp = (): string => {
    const now = Date.now();
    if (now !== stampedAt) {
      stampedAt = now;
      const millis = now % 1000;
      const second = now - millis;
      if (second !== secondAt) {
        secondAt = second;
        secondText = new Date(second).toISOString().slice(0, 20);
      }
      stamp = `${secondText}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
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
