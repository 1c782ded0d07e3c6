import { join, resolve } from 'node:path';
import { findConsumer } from '../build/index.ts';
import type { RecordCoordinates } from '../errors.ts';
import { type KafkaEvent, slicesOf } from '../event/index.ts';
import {
  BatchFailedError,
  type ConsumerDefinition,
  createHandler,
  createLogger,
  type DeployOptions,
  failedRecords,
  formatAnswered,
  type InvocationReport,
  type KafkaBatchResponse,
  lambdaContext,
  lambdaRetryLimit,
  replayEvent,
  replayRetryLimit,
} from '../runtime/index.ts';
import { FileStateStore, openDynamoStateStore, type StateStore } from '../state/index.ts';
import { encodingOf } from './encoding.ts';
import { InvokeFailedError } from './errors.ts';
import { eventsFor, readEventsFile } from './events-file.ts';
import { ndjsonFileRelay } from './outputs-file.ts';

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
  /**
   * The writer schema id NDJSON values given as JSON are encoded with, when the consumer decodes
   * its value through a schema (a line's own `valueSchemaId` wins).
   */
  valueSchemaId?: number | string;
  /** As `valueSchemaId`, for keys. */
  keySchemaId?: number | string;
  /**
   * Where outputs and dead letters go, as NDJSON records (`ndjsonFileRelay`).
   * @default '.dogear/outputs/<consumer>.ndjson'
   */
  outputs?: string;
  /** Progress lines (one per invocation). */
  progress?: (line: string) => void;
  /** Handler log lines. */
  log?: (line: string) => void;
}

/** A partial batch response, as the handler answered it. */
export interface InvokeResponse {
  /** The event it answered, counted from 1. */
  batch: number;
  /** 0 for the event's first delivery, then 1 for its first retry, and so on. */
  attempt: number;
  response: KafkaBatchResponse;
}

/** A failure the run ended with: a record (or partition) and its error. */
export interface InvokeFailure {
  topic?: string;
  partition?: number;
  offset?: number;
  error: string;
}

/** The `--json` summary of `dogear invoke`. Its counts add up: processed + duplicates + failed + notRun = records. */
export interface InvokeSummary {
  consumer: string;
  /** Events delivered, each at least once. */
  batches: number;
  /** Handler invocations, retries included. */
  invocations: number;
  /** Records in the events for the consumer's topic, delivered or not. */
  records: number;
  /** Records whose effects this run committed. */
  processed: number;
  /** Records at or below their partition's checkpoint, skipped. */
  duplicates: number;
  /** Records that failed on their last delivery: one per failed partition. */
  failed: number;
  /** Records that never ran: after a failed record of their partition, or in events after the run stopped. */
  notRun: number;
  /** Of `processed`, records given up to the dead letters (`deadLetter`). */
  deadLettered: number;
  /** Outputs and dead letters written (`--outputs`), and those committed but not written. */
  outputsRelayed: number;
  outputsPending: number;
  /** The file outputs were written to, when there were any. */
  outputsFile?: string;
  /** Every partial batch response, in order. */
  responses: InvokeResponse[];
  /** What the run ended with, each failure once; empty when it succeeded. */
  failures: InvokeFailure[];
  durationMs: number;
}

export interface InvokeLocalResult {
  summary: InvokeSummary;
  /** The failure that stopped the run; events after it were not delivered, as with Lambda. */
  error?: Error;
}

/**
 * Runs a consumer's generated handler on an events file, one event after another, as Lambda's
 * event-source mapping would, with state in the embedded store. A partial batch response is
 * retried as Lambda retries it: the named partitions from the named offsets, up to the
 * consumer's `maximumRetryAttempts` (once when it is unset or -1, since a recorded file does not
 * expire); then the run stops with the records that still failed.
 */
export async function invokeLocal(options: InvokeLocalOptions): Promise<InvokeLocalResult> {
  const started = performance.now();
  const { definition } = await findConsumer(options.consumer, options.functions);
  // NDJSON values given as JSON are written as the consumer's producers write them.
  const encoding = encodingOf(definition, {
    ...(options.valueSchemaId !== undefined ? { valueSchemaId: options.valueSchemaId } : {}),
    ...(options.keySchemaId !== undefined ? { keySchemaId: options.keySchemaId } : {}),
  });
  const file = await readEventsFile(options.events, encoding);
  const events = eventsFor(file, options.events, definition.topic, definition.batchSize);
  const store = await openStore(options);
  if (options.reset) await store.reset(definition.group);

  // The handler reports each invocation, also a failed one, before it returns or throws.
  const reports: InvocationReport[] = [];
  const outputs = resolve(
    options.outputs ?? join('.dogear', 'outputs', `${definition.name}.ndjson`),
  );
  const handler = createHandler(definition, {
    store,
    log: createLogger(options.log ?? ((line) => process.stderr.write(`${line}\n`))),
    onReport: (report) => reports.push(report),
    relay: () => ndjsonFileRelay(outputs),
  });
  const retries = replayRetries(definition);
  const totals = {
    batches: 0,
    invocations: 0,
    processed: 0,
    duplicates: 0,
    failed: 0,
    deadLettered: 0,
    outputsRelayed: 0,
    outputsPending: 0,
  };
  const responses: InvokeResponse[] = [];
  let error: Error | undefined;
  let failures: Error[] = [];

  for (const [index, event] of events.entries()) {
    totals.batches++;
    let invocationStarted = 0;
    let last: InvocationReport | undefined;
    const ended = await replayEvent(
      event,
      retries,
      (delivery) => {
        invocationStarted = performance.now();
        reports.length = 0;
        totals.invocations++;
        return handler(delivery, lambdaContext(definition));
      },
      ({ attempt, event: delivery, response }) => {
        const answered = response?.batchItemFailures ?? [];
        last = reports.at(-1);
        const ran = {
          records: recordsIn(delivery),
          processed: last?.processed ?? 0,
          duplicates: last?.duplicates ?? 0,
          // The partitions the handler saw fail: a response may name more, or records not in
          // the batch, which never ran and so are not run either.
          failed: last?.failed ?? 0,
        };
        totals.processed += ran.processed;
        totals.duplicates += ran.duplicates;
        totals.failed = ran.failed;
        totals.deadLettered += last?.deadLettered ?? 0;
        totals.outputsRelayed += last?.outputsRelayed ?? 0;
        totals.outputsPending = last?.outputsPending ?? 0;
        const outbox = outboxSummary(last, 'written');
        const notRun = ran.records - ran.processed - ran.duplicates - ran.failed;
        options.progress?.(
          `${definition.name}: batch ${index + 1}/${events.length}${attempt > 0 ? `, retry ${attempt} from ${formatFrom(delivery)}` : ''}: ${ran.records} records, ${ran.processed} processed, ${ran.duplicates} duplicates${ran.failed ? `, ${ran.failed} failed` : ''}${notRun > 0 ? `, ${notRun} not run` : ''}${outbox} (${Math.round(performance.now() - invocationStarted)} ms)${answered.length ? `; partial batch response: ${formatAnswered(answered)}` : ''}`,
        );
        if (answered.length > 0) responses.push({ batch: index + 1, attempt, response: response! });
      },
      definition.deadLetter !== undefined,
    );
    if (ended.end === 'succeeded') continue;
    if (ended.end === 'threw') {
      const e = ended.error;
      failures = e instanceof BatchFailedError ? [...e.failures] : [e as Error];
      error = failures.length === 1 ? failures[0]! : (e as Error);
      break;
    }
    failures = failedRecords(last, ended.answered);
    const headline =
      ended.end === 'not-in-batch'
        ? `the partial batch response names ${formatAnswered(ended.answered)}, which the batch does not hold; Lambda takes such a response for a failed batch`
        : `${failures.length === 1 ? 'it' : `${failures.length} partitions`} still failed after ${retries} ${retries === 1 ? 'retry' : 'retries'} (${retryLimitReason(definition.deploy)})`;
    error = new InvokeFailedError(headline, failures);
    break;
  }
  if (failures.length > 1 && !(error instanceof InvokeFailedError)) {
    error = new InvokeFailedError(`${failures.length} partitions failed`, failures);
  }
  const records = events.reduce((n, event) => n + recordsIn(event), 0);
  return {
    summary: {
      consumer: definition.name,
      batches: totals.batches,
      invocations: totals.invocations,
      records,
      processed: totals.processed,
      duplicates: totals.duplicates,
      failed: totals.failed,
      notRun: records - totals.processed - totals.duplicates - totals.failed,
      deadLettered: totals.deadLettered,
      outputsRelayed: totals.outputsRelayed,
      outputsPending: totals.outputsPending,
      ...(totals.outputsRelayed > 0 ? { outputsFile: outputs } : {}),
      responses,
      failures: error ? failuresOf(error).map(describeFailure) : [],
      durationMs: Math.round(performance.now() - started),
    },
    ...(error ? { error } : {}),
  };
}

/**
 * Retries of a failed event: as `replayRetryLimit` says, but a consumer with a `deadLetter`
 * whose Lambda retries would not run out is retried until its failing records are given up.
 */
function replayRetries(definition: ConsumerDefinition): number {
  const { deploy, deadLetter } = definition;
  if (!deadLetter || Number.isFinite(lambdaRetryLimit(deploy))) return replayRetryLimit(deploy);
  // Each failing record of a batch takes up to `after + 1` deliveries to be given up.
  return (deadLetter.after + 1) * definition.batchSize;
}

/**
 * `, 2 dead-lettered, 5 outputs written`: the outbox's part of a progress line, from the same
 * report as the metrics line; empty when there is nothing to say.
 */
export function outboxSummary(
  report: InvocationReport | undefined,
  delivered: 'written' | 'relayed',
): string {
  const parts = [
    report?.deadLettered ? `${report.deadLettered} dead-lettered` : '',
    report?.outputsRelayed ? `${report.outputsRelayed} outputs ${delivered}` : '',
    report?.outputsPending ? `${report.outputsPending} outputs pending` : '',
  ].filter(Boolean);
  return parts.length ? `, ${parts.join(', ')}` : '';
}

/** Why the retries stopped where they did, and what Lambda would do then. */
function retryLimitReason(deploy: DeployOptions): string {
  const lambda = lambdaRetryLimit(deploy);
  if (!Number.isFinite(lambda)) {
    return 'maximumRetryAttempts is unset or -1, so dogear invoke retries once, since a recorded file does not expire; Lambda would retry until the records expire';
  }
  const discard = deploy.onFailure
    ? `Lambda would now send the batch to ${deploy.onFailure}`
    : 'Lambda would now discard the batch: no on-failure destination';
  return deploy.maximumRetryAttempts === undefined || deploy.maximumRetryAttempts < 0
    ? `maximumRetryAttempts is unset or -1 with an on-failure destination, which Lambda caps at ${lambda} retries; ${discard}`
    : `maximumRetryAttempts: ${lambda}; ${discard}`;
}

function recordsIn(event: KafkaEvent): number {
  return Object.values(event.records).reduce((n, list) => n + list.length, 0);
}

/** `partial-0@1, partial-2@7`: where each partition of a retry starts. */
function formatFrom(event: KafkaEvent): string {
  return slicesOf(event)
    .map((s) => `${s.topic}-${s.partition}@${s.records[0]?.offset}`)
    .join(', ');
}

function failuresOf(error: Error): readonly Error[] {
  return error instanceof InvokeFailedError ? error.failures : [error];
}

function describeFailure(error: Error): InvokeFailure {
  const at = error as Partial<RecordCoordinates>;
  return typeof at.topic === 'string' && typeof at.partition === 'number'
    ? {
        topic: at.topic,
        partition: at.partition,
        ...(typeof at.offset === 'number' ? { offset: at.offset } : {}),
        error: error.message,
      }
    : { error: error.message };
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

/** One partition's place in `dogear state --offsets`. */
export interface PartitionOffsets {
  topic: string;
  partition: number;
  /** The next offset to read: what Kafka calls the committed offset. */
  nextOffset: number;
  /** The last offset processed: the checkpoint dogear keeps. */
  lastProcessedOffset: number;
}

/** What `dogear state <consumer> --offsets --json` prints. */
export interface StateOffsetsJsonResult {
  version: 1;
  consumer: string;
  group: string;
  /** The consumer's topic. */
  topic: string;
  /** Each partition with a checkpoint, by topic and partition number; empty before any. */
  partitions: PartitionOffsets[];
}

/**
 * Where a consumer group's dog-ears are: per partition, the last processed offset (the
 * checkpoint) and the next offset to read (Kafka's committed offset, the one after it).
 */
export async function readOffsets(
  options: StoreLocation & { consumer: string; functions?: string },
): Promise<StateOffsetsJsonResult> {
  const { definition } = await findConsumer(options.consumer, options.functions);
  const store = await openStore(options);
  const checkpoints = await store.scanCheckpoints(definition.group);
  checkpoints.sort(
    (a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0) || a.partition - b.partition,
  );
  return {
    version: 1,
    consumer: definition.name,
    group: definition.group,
    topic: definition.topic,
    partitions: checkpoints.map((c) => ({
      topic: c.topic,
      partition: c.partition,
      nextOffset: c.offset + 1,
      lastProcessedOffset: c.offset,
    })),
  };
}
