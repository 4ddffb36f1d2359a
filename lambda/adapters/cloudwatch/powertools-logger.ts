// Logger port over the Powertools Logger (structured JSON lines in CloudWatch Logs).
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Logger } from '../../ports.ts';

export const powertoolsLogger = (logger: PowertoolsLogger): Logger => ({
  info: (message, fields = {}) => logger.info(message, { ...fields }),
  warn: (message, fields = {}) => logger.warn(message, { ...fields }),
  error: (message, fields = {}) => logger.error(message, { ...fields }),
});
