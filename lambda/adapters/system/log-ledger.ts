// A UsageLedger that writes each record as one structured log line: recoverable, and bounded in memory.
import type { Logger, UsageLedger } from '../../ports.ts';

export const logUsageLedger = (logger: Logger): UsageLedger => ({
  async record(record) {
    logger.info('usage', { usage: record });
  },
});
