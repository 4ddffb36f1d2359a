// The local store's database: one SQLite file (node:sqlite, built into Node 22.13+ and 24: no native build, no
// download) in WAL mode, shared by the processes of local mode on one machine (`npm start`, `gateway-admin`, a
// second gateway). Every write is one short `BEGIN IMMEDIATE` transaction; readers never wait for writers.
import { createRequire } from 'node:module';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { EMPTY_ROLLUP } from '../../core/pricing.ts';
import type { UsageRollup } from '../../ports.ts';

type Sqlite = typeof import('node:sqlite');

let sqlite: Sqlite | undefined;

/**
 * node:sqlite, loaded without the ExperimentalWarning Node 22 prints on its first load (Node 24 prints none): the
 * warning is about the API's stability, which this adapter's tests pin, not something a user of the gateway can act on.
 */
const loadSqlite = (): Sqlite => {
  if (sqlite !== undefined) return sqlite;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (text.includes('SQLite is an experimental feature')) return;
    return (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    sqlite = createRequire(import.meta.url)('node:sqlite') as Sqlite;
    return sqlite;
  } catch (error) {
    throw new Error(
      `The local store needs node:sqlite, which Node 22.13 and later have built in; this is Node ${process.versions.node}.`,
      { cause: error },
    );
  } finally {
    process.emitWarning = emitWarning;
  }
};

/** The rollup counters, one INTEGER column each in `months`. */
export const ROLLUP_COLUMNS = Object.keys(EMPTY_ROLLUP) as ReadonlyArray<keyof UsageRollup>;

/** The counters of the first schema version; a counter added since gets its column when a database is opened. */
const V1_ROLLUP_COLUMNS =
  'requests, refusedRequests, failedRequests, abortedRequests, inputTokens, cachedInputTokens, outputTokens, reasoningTokens, trainedTokens, costMicroUsd, cacheHits, estimatedRequests'
    .split(', ')
    .map((name) => `${name} INTEGER NOT NULL DEFAULT 0`)
    .join(', ');

/**
 * The schema, one entry per version (`PRAGMA user_version`); a database is brought to the last one when opened.
 * Add a version, never edit one: databases in the field are at any of them.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tenants (tenant_id TEXT PRIMARY KEY, record TEXT NOT NULL) STRICT;
  CREATE TABLE keys (
    key_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, created_at REAL NOT NULL, record TEXT NOT NULL
  ) STRICT;
  CREATE INDEX keys_by_tenant ON keys (tenant_id);
  -- A tenant's month: the row with scope 0 holds its budget (spent; committed = spent + the amounts of its holds)
  -- and its total rollup, the rows with scope 1 its rollup per model. One table, so that a record's writes to its
  -- month land on one page, next to each other.
  CREATE TABLE months (
    tenant_id TEXT NOT NULL, month TEXT NOT NULL, scope INTEGER NOT NULL, model TEXT NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0, committed INTEGER NOT NULL DEFAULT 0, ${V1_ROLLUP_COLUMNS},
    PRIMARY KEY (tenant_id, month, scope, model)
  ) STRICT, WITHOUT ROWID;
  -- owner: the process that placed the hold (host:pid:nonce), so that the next start releases a dead one's holds.
  -- Holds are the requests in flight, a few rows: the upkeep scans them, no index beyond the key.
  CREATE TABLE holds (
    request_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, month TEXT NOT NULL, amount INTEGER NOT NULL,
    owner TEXT NOT NULL, placed_at REAL NOT NULL
  ) STRICT, WITHOUT ROWID;
  -- Appended in the order records are written (rowid); the request id's index refuses a replay. Retention deletes
  -- from the oldest rowid on, so no index on time is kept up on every write.
  CREATE TABLE usage_records (request_id TEXT PRIMARY KEY, started_at REAL NOT NULL, record TEXT NOT NULL) STRICT;
  -- due_at: a job's next poll while its tracking is not done, else NULL.
  CREATE TABLE owned (
    kind TEXT NOT NULL, id TEXT NOT NULL, tenant_id TEXT NOT NULL, created_at REAL NOT NULL,
    version INTEGER NOT NULL, due_at REAL, object TEXT NOT NULL, PRIMARY KEY (kind, id)
  ) STRICT;
  CREATE INDEX owned_by_tenant ON owned (tenant_id, kind, created_at, id);
  CREATE INDEX owned_due ON owned (due_at) WHERE due_at IS NOT NULL;
  CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  `,
];

/** How long a write waits for another process's transaction before it fails with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

export class Database {
  readonly sqlite: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  private depth = 0;

  constructor(readonly file: string) {
    const { DatabaseSync } = loadSqlite();
    this.sqlite = new DatabaseSync(file);
    // WAL: readers and the one writer do not block each other. synchronous=NORMAL: a commit is in the WAL (the
    // OS's page cache) when it returns, so a killed process loses nothing it committed; only a power loss or
    // kernel crash can lose the last commits (FULL would fsync every commit, a disk flush per request).
    this.sqlite.exec(
      `PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;`,
    );
    this.migrate();
  }

  /** A prepared statement, prepared once per SQL text. */
  statement(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.sqlite.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Runs `work` in one write transaction (BEGIN IMMEDIATE: the write lock is taken first, so the reads inside see
   * what the writes build on). `work` is synchronous, so nothing else of this process runs in between; a nested
   * call joins the outer transaction.
   */
  transaction<T>(work: () => T): T {
    if (this.depth > 0) return work();
    this.statement('BEGIN IMMEDIATE').run();
    this.depth = 1;
    try {
      const result = work();
      this.statement('COMMIT').run();
      return result;
    } catch (error) {
      try {
        this.statement('ROLLBACK').run();
      } catch {}
      throw error;
    } finally {
      this.depth = 0;
    }
  }

  meta(name: string): string | undefined {
    const row = this.statement('SELECT value FROM meta WHERE name = ?').get(name) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  setMeta(name: string, value: string): void {
    this.statement(
      'INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
    ).run(name, value);
  }

  close(): void {
    try {
      this.sqlite.close();
    } catch {} // already closed
  }

  private migrate(): void {
    const version = () =>
      (this.sqlite.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    const missingCounters = (table: string) => {
      const columns = new Set(
        (this.sqlite.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map(
          (c) => c.name,
        ),
      );
      return ROLLUP_COLUMNS.filter((name) => !columns.has(name));
    };
    const current = version() >= MIGRATIONS.length;
    if (current && missingCounters('months').length === 0) return;
    this.transaction(() => {
      // Another process may have migrated between the check and the lock.
      for (let at = version(); at < MIGRATIONS.length; at += 1) {
        this.sqlite.exec(MIGRATIONS[at]!);
        this.sqlite.exec(`PRAGMA user_version = ${at + 1}`);
      }
      // A rollup counter added to the code since: its column, 0 in every existing rollup (as old items read 0).
      for (const name of missingCounters('months'))
        this.sqlite.exec(`ALTER TABLE months ADD COLUMN ${name} INTEGER NOT NULL DEFAULT 0`);
    });
  }
}
