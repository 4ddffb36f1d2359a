// In-process twins of the ports, used by local mode and tests.
import type {
  KeyStore,
  LogFields,
  Logger,
  MetricBatch,
  Metrics,
  Principal,
  SecretSource,
  UsageLedger,
  UsageRecord,
} from '../../ports.ts';

export class MemoryKeyStore implements KeyStore {
  private readonly keys = new Map<string, Principal>();

  constructor(entries: Iterable<readonly [string, Principal]> = []) {
    for (const [key, principal] of entries) this.keys.set(key, principal);
  }

  add(key: string, principal: Principal): void {
    this.keys.set(key, principal);
  }

  async verify(presentedKey: string): Promise<Principal | undefined> {
    return this.keys.get(presentedKey);
  }
}

export class MemoryUsageLedger implements UsageLedger {
  readonly records: UsageRecord[] = [];
  private readonly waiters: Array<() => void> = [];

  /** Keeps the newest `maxRecords` records, so a long-running local gateway stays bounded. */
  constructor(private readonly maxRecords = Number.POSITIVE_INFINITY) {}

  async record(record: UsageRecord): Promise<void> {
    this.records.push(record);
    if (this.records.length > this.maxRecords) this.records.shift();
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves once `count` records exist (records are written when a response body ends). */
  async waitFor(count: number, timeoutMs = 5_000): Promise<readonly UsageRecord[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.records.length < count) {
      if (Date.now() > deadline)
        throw new Error(`expected ${count} usage records, have ${this.records.length}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.records;
  }
}

/** Totals per metric name (bounded however long it runs). */
export class MemoryMetrics implements Metrics {
  private readonly totals = new Map<string, number>();

  emit(batch: MetricBatch): void {
    for (const value of batch.values)
      this.totals.set(value.name, (this.totals.get(value.name) ?? 0) + value.value);
  }

  sum(name: string): number {
    return this.totals.get(name) ?? 0;
  }
}

/** Secrets from a map; `fresh` reads count, so tests can see a forced re-read. */
export class MemorySecretSource implements SecretSource {
  freshReads = 0;

  constructor(private readonly values: Map<string, string> = new Map()) {}

  set(name: string, value: string): void {
    this.values.set(name, value);
  }

  async get(name: string, options?: { readonly fresh?: boolean }): Promise<string> {
    if (options?.fresh) this.freshReads += 1;
    const value = this.values.get(name);
    if (value === undefined) throw new Error(`secret ${name} is not set`);
    return value;
  }
}

/** Keeps log lines in memory (tests) instead of printing them. */
export class MemoryLogger implements Logger {
  readonly lines: Array<{ level: string; message: string; fields: LogFields }> = [];
  info(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: 'info', message, fields });
  }
  warn(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  error(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: 'error', message, fields });
  }
}
