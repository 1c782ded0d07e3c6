import { resolve } from 'node:path';
import { findConsumer } from '../build/index.ts';
import { EventFormatError } from '../event/index.ts';
import {
  BatchFailedError,
  createHandler,
  createLogger,
  type InvocationReport,
} from '../runtime/index.ts';
import { FileStateStore, openDynamoStateStore, type StateStore } from '../state/index.ts';
import { eventsFor, readEventsFile } from './events-file.ts';
import { lambdaContext } from './lambda-context.ts';

/** Where a local command keeps state: files under a folder, or a DynamoDB table. */
export interface StoreLocation {
  /** @default '.dogear/state' */
  stateDir?: string;
  /** A DynamoDB endpoint (DynamoDB Local); with `dynamodbTable` alone, AWS itself. */
  dynamodb?: string;
  /** The state table's name. @default 'dogear-state' when `dynamodb` is set */
  dynamodbTable?: string;
  /** A store to use as it is. */
  store?: StateStore;
}

/** Opens the store a location names; a local DynamoDB endpoint gets its table created. */
export async function openStore(location: StoreLocation): Promise<StateStore> {
  if (location.store) return location.store;
  if (location.dynamodb || location.dynamodbTable) {
    return openDynamoStateStore({
      ...(location.dynamodb ? { endpoint: location.dynamodb } : {}),
      table: location.dynamodbTable ?? 'dogear-state',
    });
  }
  return new FileStateStore(resolve(location.stateDir ?? '.dogear/state'));
}

export interface InvokeLocalOptions extends StoreLocation {
  consumer: string;
  /** An NDJSON records file or an MSK event JSON file. */
  events: string;
  /** Forget the consumer group's state and offsets first. */
  reset?: boolean;
  /** @default 'functions' */
  functions?: string;
  /** Progress lines (one per batch). */
  progress?: (line: string) => void;
  /** Handler log lines. */
  log?: (line: string) => void;
}

/** The `--json` summary of `dogear invoke`. */
export interface InvokeSummary {
  consumer: string;
  batches: number;
  records: number;
  processed: number;
  duplicates: number;
  failed: number;
  durationMs: number;
}

export interface InvokeLocalResult {
  summary: InvokeSummary;
  /** The failure that stopped the run; events after it were not delivered, as with Lambda. */
  error?: Error;
}

/**
 * Runs a consumer's generated handler on an events file, one event after another, as Lambda's
 * event-source mapping would, with state in the embedded store.
 */
export async function invokeLocal(options: InvokeLocalOptions): Promise<InvokeLocalResult> {
  const started = performance.now();
  const { definition } = await findConsumer(options.consumer, options.functions);
  const file = await readEventsFile(options.events);
  const events = eventsFor(file, options.events, definition.topic, definition.batchSize);
  const store = await openStore(options);
  if (options.reset) await store.reset(definition.group);

  const reports: InvocationReport[] = [];
  const handler = createHandler(definition, {
    store,
    log: createLogger(options.log ?? ((line) => process.stderr.write(`${line}\n`))),
    onReport: (report) => reports.push(report),
  });
  let error: Error | undefined;
  for (const [index, event] of events.entries()) {
    const batchStarted = performance.now();
    try {
      await handler(event, lambdaContext(definition));
    } catch (e) {
      error = e instanceof BatchFailedError || e instanceof EventFormatError ? e : (e as Error);
    }
    const report = reports[index];
    if (report) {
      options.progress?.(
        `${definition.name}: batch ${index + 1}/${events.length}: ${report.records} records, ${report.processed} processed, ${report.duplicates} duplicates${report.failed ? `, ${report.failed} failed` : ''} (${Math.round(performance.now() - batchStarted)} ms)`,
      );
    }
    if (error) break;
  }
  const sum = (pick: (r: InvocationReport) => number) => reports.reduce((n, r) => n + pick(r), 0);
  return {
    summary: {
      consumer: definition.name,
      batches: reports.length,
      records: sum((r) => r.records),
      processed: sum((r) => r.processed),
      duplicates: sum((r) => r.duplicates),
      failed: sum((r) => r.failed),
      durationMs: Math.round(performance.now() - started),
    },
    ...(error ? { error } : {}),
  };
}

/** One table of a consumer's state, or one key of it. */
export async function readTable(
  options: StoreLocation & { consumer: string; table: string; key?: string; functions?: string },
): Promise<unknown> {
  const { definition } = await findConsumer(options.consumer, options.functions);
  const store = await openStore(options);
  const rows = await store.scanTable(definition.group, options.table);
  if (options.key !== undefined) return rows.get(options.key) ?? null;
  return Object.fromEntries([...rows].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A consumer group's checkpoints: where each partition's dog-ear is. */
export async function readCheckpoints(
  options: StoreLocation & { consumer: string; functions?: string },
) {
  const { definition } = await findConsumer(options.consumer, options.functions);
  const store = await openStore(options);
  return store.scanCheckpoints(definition.group);
}
