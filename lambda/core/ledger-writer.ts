// Writes usage records without ever losing one: retries, then a full structured log line that can be replayed.
import type { Clock, Logger, Metrics, UsageLedger, UsageRecord } from '../ports.ts';
import { createBackgroundWork } from './background.ts';

const RETRY_DELAYS_MS = [50, 250, 1_000] as const;

export interface UsageWriterOptions {
  readonly ledger: UsageLedger;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
}

/**
 * A record is written after its response ended, off the response path. A write the ledger refuses after
 * retries is logged in full (`usage record not stored`, field `usageRecord`) and counted in the
 * `UsageRecordsNotStored` metric; replaying the line is safe because records are idempotent by request id.
 */
export const createUsageWriter = ({ ledger, logger, metrics, clock }: UsageWriterOptions) => {
  const background = createBackgroundWork();

  // The first attempt calls the ledger synchronously, while the request settles and before its last byte leaves: a
  // ledger that commits inside record() (the local SQLite one) has the record stored before the client has it all.
  const store = async (record: UsageRecord, metricModel: string): Promise<void> => {
    let lastError: unknown;
    for (let attempt = 0; attempt <= RETRY_DELAYS_MS.length; attempt += 1) {
      try {
        await ledger.record(record);
        return;
      } catch (error) {
        lastError = error;
        const delay = RETRY_DELAYS_MS[attempt];
        if (delay !== undefined) await clock.sleep(delay);
      }
    }
    try {
      logger.error('usage record not stored', { usageRecord: record, error: String(lastError) });
      metrics.emit({
        dimensions: { model: metricModel },
        values: [{ name: 'UsageRecordsNotStored', value: 1, unit: 'Count' }],
      });
    } catch {
      // Nothing further can be done here; a failure to log must not fail the invocation.
    }
  };

  /** `metricModel`: the route's name, the only model a metric may carry. A record still being built may be given. */
  const write = (record: UsageRecord | Promise<UsageRecord>, metricModel: string): void =>
    background.add(
      record instanceof Promise
        ? record.then(
            (built) => store(built, metricModel),
            (error: unknown) => {
              logger.error('usage record could not be built', { error: String(error) });
            },
          )
        : store(record, metricModel),
    );

  return { write, drain: background.drain };
};
