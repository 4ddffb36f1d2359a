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
});
