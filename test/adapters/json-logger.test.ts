import { jest } from '@jest/globals';
import { jsonLogger } from '../../lambda/adapters/system/json-logger.ts';

describe('jsonLogger', () => {
  it('writes one parseable JSON line per entry, with the fields at the top level', () => {
    const lines: string[] = [];
    const logger = jsonLogger((line) => lines.push(line), 'info');
    logger.info('request', { requestId: 'r1', status: 200, tokens: { inputTokens: 3 } });
    logger.warn('quoted "message"');
    expect(lines).toHaveLength(2);
    expect(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'INFO',
      message: 'request',
      requestId: 'r1',
      status: 200,
      tokens: { inputTokens: 3 },
    });
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'WARN', message: 'quoted "message"' });
    expect(Number.isNaN(Date.parse(JSON.parse(lines[0]!).timestamp))).toBe(false);
  });

  it('drops entries below its level', () => {
    const lines: string[] = [];
    const logger = jsonLogger((line) => lines.push(line), 'warn');
    logger.info('hidden');
    logger.error('shown');
    expect(lines.map((line) => JSON.parse(line).message)).toEqual(['shown']);
  });

  it("stamps each line with the time it was written, as Date's toISOString writes it, across milliseconds and seconds", () => {
    // Prepare: instants on both sides of second and minute boundaries, and milliseconds of one, two and three digits
    const instants = [
      Date.UTC(2026, 11, 6, 23, 59, 59, 999),
      Date.UTC(2026, 11, 7, 0, 0, 0, 0),
      Date.UTC(2026, 11, 7, 0, 0, 0, 7),
      Date.UTC(2026, 11, 7, 0, 0, 0, 42),
      Date.UTC(2026, 11, 7, 0, 0, 1, 5),
      Date.UTC(2026, 11, 7, 0, 0, 1, 5),
      Date.UTC(2026, 11, 7, 0, 0, 0, 300),
    ];
    const lines: string[] = [];
    const logger = jsonLogger((line) => lines.push(line), 'info');
    jest.useFakeTimers();
    try {
      // Act
      for (const instant of instants) {
        jest.setSystemTime(instant);
        logger.info('tick');
      }
    } finally {
      jest.useRealTimers();
    }

    // Assess
    expect(lines.map((line) => JSON.parse(line).timestamp)).toEqual(
      instants.map((instant) => new Date(instant).toISOString()),
    );
  });
});
