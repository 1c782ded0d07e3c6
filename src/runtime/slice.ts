import {
  decodeRecord,
  decodeSchemaFields,
  decodesThroughSchema,
  type EventRecord,
  type KafkaRecord,
  type PartitionSlice,
  validateValue,
} from '../event/index.ts';
import {
  backoff,
  type RecordEnd,
  type StateCache,
  StateConflictError,
  type StateStore,
  StateTransaction,
} from '../state/index.ts';
import { type RecordsToRun, SliceContext } from './context.ts';
import { RecordFailedError, TopicRecreatedError } from './errors.ts';
import { recordFingerprint } from './fingerprint.ts';
import type { Logger } from './logger.ts';
import type { BatchHandler, ConsumerDefinition, RecordHandler } from './types.ts';

/** What happened to one partition's records in one invocation. */
export interface SliceReport {
  readonly topic: string;
  readonly partition: number;
  /** Records in the slice. */
  records: number;
  /** Records whose effects this invocation committed. */
  processed: number;
  /** Records at or below the checkpoint: already committed, skipped. */
  duplicates: number;
  /**
   * The record that failed (later records of the slice were not run), or the new log found
   * under the checkpoint (no record ran).
   */
  failure?: RecordFailedError | TopicRecreatedError;
  /** 1 when the slice came from a new log under an old checkpoint (`TopicRecreatedError`). */
  recreated: number;
  /** Commits made (record-aligned chunks). */
  commits: number;
  /** Times the slice ran again from its checkpoint after a version conflict. */
  reruns: number;
  /** Of those, times the checkpoint had moved: another invocation of the partition committed first. */
  fences: number;
  /** The newest record timestamp in the slice (epoch ms), records without one (-1) left out. */
  newestTimestamp?: number;
  /** The slowest of the slice's commits, in ms: how long `txn.commit()` took. */
  slowestCommitMs?: number;
  /** Records of the slice sent to the consumer's dead letters (0 when absent). */
  deadLettered?: number;
  /** Outbox messages this invocation delivered for the partition (0 when absent). */
  outputsRelayed?: number;
  /** Outbox messages committed for the partition but not delivered when the invocation ended (0 when absent). */
  outputsPending?: number;
}

/** What a slice needs from the process around it. */
export interface SliceDeps {
  readonly store: StateStore;
  readonly cache: StateCache;
  readonly log: Logger;
  /** Reruns after version conflicts before the invocation fails. @default 8 */
  readonly maxReruns?: number;
  /**
   * Until when (epoch ms) the invocation can still be running: the lease of its `ctx.once`
   * claims (the handler derives it from the Lambda context, or the consumer's timeout).
   */
  readonly deadline: () => number;
  /**
   * Kafka's id of the topic, when the caller can ask the broker: a checkpoint committed under
   * another id belongs to a log that is gone, whatever offsets the slice holds.
   */
  readonly topicId?: string;
  /** Whether the slice reads ahead what its records will read (`HandlerOptions.readAhead`). */
  readonly readAhead?: boolean;
  /** Where the event came from, for `ctx.eventSourceArn` and `ctx.bootstrapServers`. */
  readonly source?: { readonly eventSourceArn?: string; readonly bootstrapServers?: string };
}

/**
 * Runs one partition's records through the handler exactly once: records at or below the
 * checkpoint are skipped, the rest run in offset order and commit with the checkpoint. A record
 * that throws is dropped with its effects, after every earlier record is committed. A version
 * conflict reruns the slice from the (new) checkpoint.
 */
export async function processSlice(
  consumer: ConsumerDefinition,
  handler: RecordHandler<unknown, unknown> | BatchHandler<unknown, unknown>,
  slice: PartitionSlice<EventRecord>,
  deps: SliceDeps,
): Promise<SliceReport> {
  const report: SliceReport = {
    topic: slice.topic,
    partition: slice.partition,
    records: slice.records.length,
    processed: 0,
    duplicates: 0,
    recreated: 0,
    commits: 0,
    reruns: 0,
    fences: 0,
  };
  const newest = newestTimestamp(slice.records);
  if (newest !== undefined) report.newestTimestamp = newest;
  const partition = { group: consumer.group, topic: slice.topic, partition: slice.partition };
  const maxReruns = deps.maxReruns ?? 8;
  for (let attempt = 0; ; attempt++) {
    const txn = await StateTransaction.open(deps.store, deps.cache, partition, {
      ...(deps.topicId === undefined ? {} : { topicId: deps.topicId }),
    });
    try {
      await runFrom(txn, consumer, handler, slice, deps, report);
      return report;
    } catch (error) {
      if (!(error instanceof StateConflictError) || attempt >= maxReruns) throw error;
      report.reruns++;
      if (error.checkpoint) report.fences++;
      deps.log.debug('version conflict, rerunning slice from its checkpoint', {
        topic: slice.topic,
        partition: slice.partition,
        attempt: attempt + 1,
        checkpoint: error.checkpoint,
      });
      await backoff(attempt, { base: 10, cap: 1000 });
    }
  }
}

async function runFrom(
  txn: StateTransaction,
  consumer: ConsumerDefinition,
  handler: RecordHandler<unknown, unknown> | BatchHandler<unknown, unknown>,
  slice: PartitionSlice<EventRecord>,
  { store, log, deadline, topicId, readAhead = true, source }: SliceDeps,
  report: SliceReport,
): Promise<void> {
  const from = txn.checkpoint.offset;
  // A failure of an earlier attempt stands only if this attempt meets it again.
  delete report.failure;
  report.recreated = 0;
  const newLog = newLogUnder(txn, slice, topicId);
  if (newLog) {
    report.duplicates = 0;
    report.recreated = 1;
    report.failure = new TopicRecreatedError(
      consumer.name,
      consumer.group,
      { topic: slice.topic, partition: slice.partition, offset: from },
      newLog,
    );
    return;
  }
  // The slice is sorted by offset; a record listed twice in one event runs once.
  const fresh = slice.records.filter(
    (r, i, all) => r.offset > from && (i === 0 || r.offset !== all[i - 1]!.offset),
  );
  // Records this invocation committed in an earlier attempt are below the checkpoint now too.
  report.duplicates = slice.records.length - fresh.length - report.processed;
  const ahead = new RecordsAhead(consumer, fresh);
  const ctx = new SliceContext(
    consumer.name,
    consumer.group,
    slice.topic,
    slice.partition,
    txn,
    store,
    log.with({ topic: slice.topic, partition: slice.partition }),
    consumer.key,
    deadline,
    readAhead ? ahead : undefined,
    consumer.reads,
    source,
  );
  const processedBefore = report.processed;
  const commit = async () => {
    const started = performance.now();
    if ((await txn.commit()) === 0) return;
    const took = performance.now() - started;
    report.slowestCommitMs = Math.max(report.slowestCommitMs ?? 0, took);
    report.commits++;
    const upTo = txn.checkpoint.offset;
    report.processed = processedBefore + fresh.filter((r) => r.offset <= upTo).length;
  };
  const units = consumer.mode === 'batch' ? (fresh.length ? [fresh] : []) : fresh.map((r) => [r]);
  for (const unit of units) {
    // One record's lifecycle: begin, run the handler, then end it (its writes checked and
    // measured) or abort it (it threw: its writes are dropped, the earlier records commit).
    const last = unit[unit.length - 1]!;
    ahead.from(unit[0]!);
    txn.beginRecord(last.offset, () => recordFingerprint(last));
    let end: RecordEnd;
    try {
      await handleUnit(consumer, handler, slice, unit, ctx, ahead);
      end = txn.endRecord();
    } catch (error) {
      txn.abortRecord();
      report.failure = new RecordFailedError(consumer.name, failedAt(error, unit), error);
      break;
    }
    // It does not fit beside the finished records: they commit first, then it joins.
    if (end === 'commit-first') await commit();
  }
  await commit();
}

/** Kafka writes -1 for a record stored without a timestamp: it says nothing about event time. */
function newestTimestamp(records: readonly EventRecord[]): number | undefined {
  let newest: number | undefined;
  for (const r of records) {
    if (r.timestamp !== -1 && (newest === undefined || r.timestamp > newest)) newest = r.timestamp;
  }
  return newest;
}

/**
 * Whether the checkpoint was committed from another log than the slice's: the topic id changed,
 * or the slice holds a record at the checkpoint's offset that is not the one committed there.
 * A slice that does not reach the checkpoint's offset, without a topic id, cannot tell.
 */
function newLogUnder(
  txn: StateTransaction,
  slice: PartitionSlice<EventRecord>,
  topicId: string | undefined,
): TopicRecreatedError['evidence'] | undefined {
  const { offset, fingerprint, topicId: committedId } = txn.checkpoint;
  if (topicId !== undefined && committedId !== undefined && topicId !== committedId) {
    return { by: 'topic id', committed: committedId, found: topicId };
  }
  if (fingerprint === undefined) return undefined;
  const at = slice.records.find((r) => r.offset === offset);
  if (!at) return undefined;
  const found = recordFingerprint(at);
  return found === fingerprint ? undefined : { by: 'fingerprint', committed: fingerprint, found };
}

async function handleUnit(
  consumer: ConsumerDefinition,
  handler: RecordHandler<unknown, unknown> | BatchHandler<unknown, unknown>,
  slice: PartitionSlice<EventRecord>,
  unit: readonly EventRecord[],
  ctx: SliceContext,
  ahead: RecordsAhead,
): Promise<void> {
  const records: KafkaRecord<unknown, unknown>[] = [];
  for (const raw of unit) {
    const record = ahead.decode(raw);
    // Without a schema, decoding is synchronous: no await for the common case.
    records.push(record instanceof Promise ? await record : record);
  }
  if (consumer.mode === 'record') {
    const record = records[0]!;
    ctx.at(record, record.offset);
    await (handler as RecordHandler<unknown, unknown>)(record, ctx);
  } else {
    ctx.at(undefined, records[records.length - 1]!.offset, records[0]!.offset);
    await (handler as BatchHandler<unknown, unknown>)(
      { topic: slice.topic, partition: slice.partition, records },
      ctx,
    );
  }
}

/** A record as its handler gets it: decoded, and validated when the consumer has a schema. */
function decodeAndValidate(
  raw: EventRecord,
  consumer: ConsumerDefinition,
): KafkaRecord<unknown, unknown> | Promise<KafkaRecord<unknown, unknown>> {
  const record = decodeRecord<unknown, unknown>(raw, consumer);
  if (decodesThroughSchema(consumer)) {
    return decodeSchemaFields<unknown, unknown>(record, raw, consumer).then((decoded) =>
      validated(decoded, consumer),
    );
  }
  return validated(record, consumer);
}

/** The record, its value checked by the consumer's Standard Schema when it has one. */
function validated(
  record: KafkaRecord<unknown, unknown>,
  consumer: ConsumerDefinition,
): KafkaRecord<unknown, unknown> | Promise<KafkaRecord<unknown, unknown>> {
  if (!consumer.schema || record.value === null) return record;
  return validateValue(record, consumer.schema).then((value) => ({ ...record, value }));
}

/**
 * The fresh records of one slice attempt, for reading ahead: the records from the current one
 * on, decoded when a read reads ahead for them; the handler then gets that decoding.
 * A record that fails to decode is left out of the read-ahead, and fails when its turn comes,
 * with the same error.
 */
class RecordsAhead implements RecordsToRun {
  private readonly decoded = new Map<
    EventRecord,
    KafkaRecord<unknown, unknown> | Promise<KafkaRecord<unknown, unknown>>
  >();
  position = 0;

  constructor(
    private readonly consumer: ConsumerDefinition,
    private readonly records: readonly EventRecord[],
  ) {}

  /** The record whose turn it is (the first of a unit). */
  from(record: EventRecord): void {
    this.position = this.records.indexOf(record, this.position);
  }

  /**
   * The record decoded: the read-ahead's decoding if it made one, else decoded now. Only the
   * read-ahead keeps what it decodes, so a slice that never reads ahead holds no decoded records.
   */
  decode(raw: EventRecord): KafkaRecord<unknown, unknown> | Promise<KafkaRecord<unknown, unknown>> {
    return this.decoded.get(raw) ?? decodeAndValidate(raw, this.consumer);
  }

  async next(count: number): Promise<Array<KafkaRecord<unknown, unknown>>> {
    const upcoming = this.records.slice(this.position, this.position + count);
    const settled = await Promise.allSettled(
      upcoming.map((raw) => {
        let decoded = this.decoded.get(raw);
        if (decoded === undefined) {
          try {
            decoded = decodeAndValidate(raw, this.consumer);
          } catch (error) {
            decoded = Promise.reject(error);
          }
          // The error is the record's, reported in its turn; the read-ahead only skips it.
          if (decoded instanceof Promise) decoded.catch(() => {});
          this.decoded.set(raw, decoded);
        }
        return decoded;
      }),
    );
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }
}

/** Decode errors name their own record; a batch handler's error is pinned to its first record. */
function failedAt(error: unknown, unit: readonly EventRecord[]): EventRecord {
  const offset = (error as { offset?: unknown })?.offset;
  return unit.find((r) => r.offset === offset) ?? unit[0]!;
}
