import {
  decodeRecord,
  decodeSchemaFields,
  decodesThroughSchema,
  type EventRecord,
  type KafkaRecord,
  type PartitionSlice,
  validateValue,
} from '../event/index.ts';
import type { OutboxRelay } from '../output/index.ts';
import {
  backoff,
  DEAD_LETTER_HEADER,
  type DeadLetterFacts,
  ORIGIN_HEADER,
  type RecordAttempt,
  type RecordEnd,
  type StateCache,
  StateConflictError,
  StateError,
  StateLimitError,
  type StateStore,
  StateTransaction,
  StateTypeError,
  StateValueError,
  type UpstreamMark,
} from '../state/index.ts';
import { type RecordsToRun, SliceContext } from './context.ts';
import {
  OnceInProgressError,
  OutputsUndeliveredError,
  RecordFailedError,
  TopicRecreatedError,
} from './errors.ts';
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
  failure?: RecordFailedError | TopicRecreatedError | OutputsUndeliveredError;
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
  /** Records given up to the dead letters (`ConsumerOptions.deadLetter`). */
  deadLettered: number;
  /** Outbox messages (outputs and dead letters) this invocation delivered. */
  outputsRelayed: number;
  /** Outbox messages committed and not delivered when the slice ended (the relay failed). */
  outputsPending: number;
  /** Of `duplicates`, records that are outputs of another dogear consumer applied already. */
  upstreamDuplicates: number;
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
  /** Delivers the outbox after each commit; asked for only when there is something to send. */
  readonly relay?: () => OutboxRelay;
  /**
   * Test-only: exits the process right after the first commit that leaves an outbox, before it
   * is relayed (the window an at-least-once relay must survive). Set by `DOGEAR_EXIT_AFTER_COMMIT`.
   */
  readonly exitAfterCommit?: boolean;
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
    deadLettered: 0,
    outputsRelayed: 0,
    outputsPending: 0,
    upstreamDuplicates: 0,
  };
  const newest = newestTimestamp(slice.records);
  if (newest !== undefined) report.newestTimestamp = newest;
  const partition = { group: consumer.group, topic: slice.topic, partition: slice.partition };
  const maxReruns = deps.maxReruns ?? 8;
  const delivery: Delivery = {};
  for (let attempt = 0; ; attempt++) {
    const txn = await StateTransaction.open(deps.store, deps.cache, partition, {
      ...(deps.topicId === undefined ? {} : { topicId: deps.topicId }),
    });
    try {
      await runFrom(txn, consumer, handler, slice, deps, report, delivery);
      return report;
    } catch (error) {
      if (error instanceof OutputsUndeliveredError) {
        report.failure = error;
        return report;
      }
      if (!(error instanceof StateConflictError) || attempt >= maxReruns) {
        // The delivery ends here without the record's fault: it must not count against it.
        await closeAttempt(txn, delivery);
        throw error;
      }
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

/** What one delivery of the slice knows across its reruns after conflicts. */
interface Delivery {
  /** The attempt this delivery marked for its first record, so a rerun does not count it twice. */
  marked?: RecordAttempt;
  /** Whether this delivery commits record by record (an earlier one did not end). */
  solo?: boolean;
}

async function runFrom(
  txn: StateTransaction,
  consumer: ConsumerDefinition,
  handler: RecordHandler<unknown, unknown> | BatchHandler<unknown, unknown>,
  slice: PartitionSlice<EventRecord>,
  deps: SliceDeps,
  report: SliceReport,
  delivery: Delivery,
): Promise<void> {
  const { store, log, deadline, topicId, readAhead = true, source } = deps;
  // An earlier invocation committed and did not deliver: its outbox goes out before any record
  // runs, since the next commit replaces it.
  await deliver(txn, deps, report, true);
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
  const belowCheckpoint = slice.records.length - fresh.length - report.processed;
  report.duplicates = belowCheckpoint;
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
    consumer.emits,
  );
  // What this attempt counts only once it commits (a conflict reruns the rest): by offset.
  const before = {
    processed: report.processed,
    deadLettered: report.deadLettered,
    upstream: report.upstreamDuplicates,
  };
  const upstreamSeen = new Set<number>();
  const givenUp: number[] = [];
  const commit = async (last: boolean) => {
    const started = performance.now();
    if ((await txn.commit()) === 0) {
      // A commit earlier in the slice was delivered and left in place for the next to replace.
      if (last) await txn.outboxDelivered();
      return;
    }
    const took = performance.now() - started;
    report.slowestCommitMs = Math.max(report.slowestCommitMs ?? 0, took);
    report.commits++;
    const upTo = txn.checkpoint.offset;
    const upstream = [...upstreamSeen].filter((o) => o <= upTo).length;
    report.processed =
      before.processed +
      fresh.filter((r) => r.offset <= upTo && !upstreamSeen.has(r.offset)).length;
    report.upstreamDuplicates = before.upstream + upstream;
    report.duplicates = belowCheckpoint + upstream;
    report.deadLettered = before.deadLettered + givenUp.filter((o) => o <= upTo).length;
    if (deps.exitAfterCommit && txn.checkpoint.outbox) process.exit(137);
    // Mid-slice, the next commit replaces the outbox anyway: only the last one is cleared.
    await deliver(txn, deps, report, last);
  };
  const deadLetter = consumer.mode === 'record' ? consumer.deadLetter : undefined;
  const first = fresh[0];
  // How often the first record failed so far; a delivery that began and did not end counts
  // only if it ran record by record (then it died in this record, not after it).
  const mark = deadLetter && first ? await markFirst(txn, first, delivery) : undefined;
  // After a delivery that did not end, commit record by record: if a record kills the process,
  // the next delivery starts at it, and its deaths are counted, not its predecessors'.
  const oneByOne = delivery.solo === true;
  /** After a record ends: a commit if it does not fit, or if this delivery runs one by one. */
  const commitAfter = async (end: RecordEnd, last: EventRecord) => {
    // It does not fit beside the finished records: they commit first, then it joins.
    if (end === 'commit-first') return commit(false);
    if (!oneByOne) return;
    // The next record runs alone too: if this delivery dies in it, it is that record's death.
    const next = fresh[fresh.indexOf(last) + 1];
    if (deadLetter && next) {
      const mark: RecordAttempt = { offset: next.offset, count: 0, open: true, solo: true };
      txn.attemptFailed(mark);
      delivery.marked = mark;
    }
    await commit(false);
  };
  const units = consumer.mode === 'batch' ? (fresh.length ? [fresh] : []) : fresh.map((r) => [r]);
  for (const unit of units) {
    // One record's lifecycle: begin, run the handler, then end it (its writes checked and
    // measured) or abort it (it threw: its writes are dropped, the earlier records commit).
    const last = unit[unit.length - 1]!;
    ahead.from(unit[0]!);
    txn.beginRecord(last.offset, () => recordFingerprint(last));
    // Outputs of another dogear consumer relayed again are applied already: left out.
    const kept = unseen(txn, unit);
    // A 10,000-record @onBatch unit must not pay a scan per record when nothing was skipped.
    if (kept.length < unit.length) {
      const run = new Set(kept);
      for (const r of unit) if (!run.has(r)) upstreamSeen.add(r.offset);
    }
    let end: RecordEnd;
    if (kept.length === 0) {
      end = txn.endRecord();
    } else if (deadLetter && mark && unit[0] === first && mark.count >= deadLetter.after) {
      end = giveUp(txn, consumer, last, mark.count, undeliverable(mark.count));
      givenUp.push(last.offset);
      ctx.log.error(
        `${consumer.name}: ${last.topic}-${last.partition}@${last.offset}: ${mark.count} deliveries failed on it, the last without an error dogear could catch; sent to the dead letters (${deadLetter.to}) unrun, and the partition moves on`,
      );
    } else {
      try {
        await handleUnit(consumer, handler, slice, kept, ctx, ahead);
        await ctx.settleEmits();
        end = txn.endRecord();
      } catch (error) {
        txn.abortRecord();
        ctx.dropEmits();
        const failed = failedAt(error, unit);
        const isFirst = failed === first;
        if (deadLetter && deadLetterable(error)) {
          const attempts = (isFirst && mark ? mark.count : 0) + 1;
          if (attempts >= deadLetter.after) {
            txn.beginRecord(failed.offset, () => recordFingerprint(failed));
            unseen(txn, [failed]);
            end = giveUp(txn, consumer, failed, attempts, error);
            givenUp.push(failed.offset);
            ctx.log.error(
              `${consumer.name}: ${failed.topic}-${failed.partition}@${failed.offset} failed ${attempts} time(s); sent to the dead letters (${deadLetter.to}) and the partition moves on`,
              { error: error instanceof Error ? error.message : String(error) },
            );
            await commitAfter(end, failed);
            continue;
          }
          // Counted, and the delivery ended: the next one starts at it.
          txn.attemptFailed({ offset: failed.offset, count: attempts });
        } else if (deadLetter && isFirst && mark) {
          // Not the record's fault (a store or registry that could not answer): not counted.
          txn.attemptFailed({ offset: failed.offset, count: mark.count });
        }
        report.failure = new RecordFailedError(consumer.name, failed, error);
        break;
      }
    }
    await commitAfter(end, last);
  }
  await commit(true);
}

/**
 * Marks, in the checkpoint item, that a delivery of the slice's first record began (`open`), so
 * a delivery that times out or dies is still known of. Returns the record's failures so far:
 * those counted when their delivery ended, and a delivery left open by one that ran record by
 * record (it died in this record). A delivery left open by one that ran the whole slice proves
 * nothing of this record: this one runs record by record instead.
 */
async function markFirst(
  txn: StateTransaction,
  first: EventRecord,
  delivery: Delivery,
): Promise<RecordAttempt> {
  const current = txn.checkpoint.attempt;
  if (delivery.marked?.offset === first.offset && current?.offset === first.offset) {
    return delivery.marked;
  }
  const prior = current?.offset === first.offset ? current : undefined;
  const count = (prior?.count ?? 0) + (prior?.open && prior.solo ? 1 : 0);
  // A rerun after a commit starts at a later record: the delivery stays record by record.
  delivery.solo = delivery.solo === true || prior !== undefined;
  const mark: RecordAttempt = { offset: first.offset, count, open: true, solo: delivery.solo };
  await txn.markAttempt(mark);
  delivery.marked = mark;
  return mark;
}

/**
 * A delivery that ends with an error that is not the first record's own closes its mark, best
 * effort: the store that failed may not take it either, and then the next delivery, if it runs
 * record by record, counts one failure too many.
 */
async function closeAttempt(txn: StateTransaction, delivery: Delivery): Promise<void> {
  const marked = delivery.marked;
  if (!marked || txn.checkpoint.attempt?.offset !== marked.offset) return;
  try {
    await txn.markAttempt({ offset: marked.offset, count: marked.count });
  } catch {
    // The store is what failed; the mark stays open.
  }
}

/**
 * The most of a record's key, value and headers (as base64) a dead letter keeps: it must fit a
 * commit's outbox beside other records' (350 KB) and an SQS message (256 KiB by default) with
 * its facts. A larger record is given up with its coordinates only.
 */
const DEAD_LETTER_PAYLOAD_BYTES = 160 * 1024;

/** The failed record, finished as a dead letter: the checkpoint moves past it with no effects. */
function giveUp(
  txn: StateTransaction,
  consumer: ConsumerDefinition,
  raw: EventRecord,
  attempts: number,
  error: unknown,
): RecordEnd {
  const failure = error instanceof Error ? error : new Error(String(error));
  const headers = raw.headers.flatMap((h) =>
    Object.entries(h).map(([name, bytes]) => [name, bytesOf(bytes).toString('base64')] as const),
  );
  const payload =
    (raw.key?.length ?? 0) +
    (raw.value?.length ?? 0) +
    headers.reduce((n, [name, value]) => n + name.length + value.length, 0);
  const kept = payload <= DEAD_LETTER_PAYLOAD_BYTES;
  const facts: DeadLetterFacts = {
    consumer: consumer.name,
    group: consumer.group,
    topic: raw.topic,
    partition: raw.partition,
    offset: raw.offset,
    timestamp: raw.timestamp,
    attempts,
    error: { name: failure.name, message: failure.message.slice(0, 4096) },
    at: Date.now(),
    ...(kept
      ? {}
      : {
          omitted: {
            keyBytes: raw.key ? Buffer.byteLength(raw.key, 'base64') : 0,
            valueBytes: raw.value ? Buffer.byteLength(raw.value, 'base64') : 0,
          },
        }),
  };
  txn.output({
    to: consumer.deadLetter!.to,
    key: kept ? (raw.key ?? null) : null,
    value: kept ? (raw.value ?? null) : null,
    headers: [
      ...(kept ? headers : []),
      [DEAD_LETTER_HEADER, Buffer.from(JSON.stringify(facts)).toString('base64')],
    ],
    deadLetter: facts,
  });
  return txn.endRecord();
}

function undeliverable(deliveries: number): Error {
  const error = new Error(
    `${deliveries} deliveries of this record ended without an error dogear could catch: the invocation timed out, ran out of memory, or its process died`,
  );
  error.name = 'DeliveriesExhausted';
  return error;
}

/**
 * Whether an error is the record's own, so another delivery would fail the same way: not a
 * store or registry that could not answer, nor an effect still running elsewhere.
 */
function deadLetterable(error: unknown): boolean {
  if (error instanceof OnceInProgressError) return false;
  if (error instanceof StateError) {
    return (
      error instanceof StateValueError ||
      error instanceof StateTypeError ||
      error instanceof StateLimitError
    );
  }
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if ((e as { failure?: unknown }).failure === 'retry') return false;
  }
  return true;
}

/** Signed Java bytes, as Lambda lists a header's value. */
function bytesOf(signed: readonly number[]): Buffer {
  return Buffer.from(signed.map((b) => b & 0xff));
}

/** Where an output of a dogear consumer came from: its `dogear-origin` header, parsed. */
function upstreamOrigin(raw: EventRecord): { source: string; mark: UpstreamMark } | undefined {
  for (const header of raw.headers) {
    const bytes = header[ORIGIN_HEADER];
    if (!bytes) continue;
    const parts = bytesOf(bytes).toString('utf8').split('|');
    if (parts.length !== 5) return undefined;
    const offset = Number(parts[3]);
    const index = Number(parts[4]);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(index)) return undefined;
    return { source: parts.slice(0, 3).join('|'), mark: [offset, index] };
  }
  return undefined;
}

/**
 * The records of `unit` that are not outputs of another dogear consumer applied already, each
 * marked as applied by the running record (the marks commit with it, or drop if it aborts).
 * Per source partition, its outputs reach each partition in order, so the last one applied is
 * all a reader needs to know (see docs/pipelines.md).
 */
function unseen(txn: StateTransaction, unit: readonly EventRecord[]): EventRecord[] {
  const kept: EventRecord[] = [];
  for (const raw of unit) {
    const origin = upstreamOrigin(raw);
    if (origin) {
      const seen = txn.upstreamMark(origin.source);
      if (seen && !after(origin.mark, seen)) continue;
      txn.markUpstream(origin.source, origin.mark);
    }
    kept.push(raw);
  }
  return kept;
}

/** Whether output position `a` comes after `b` in its source partition. */
function after(a: UpstreamMark, b: UpstreamMark): boolean {
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

/**
 * Sends the checkpoint's outbox, if it has one, and (when `clear`) forgets it in the store. A
 * relay that fails leaves it there: `OutputsUndeliveredError`.
 */
async function deliver(
  txn: StateTransaction,
  deps: SliceDeps,
  report: SliceReport,
  clear: boolean,
): Promise<void> {
  const outbox = txn.checkpoint.outbox;
  if (!outbox?.length) return;
  const { topic, partition } = txn.partition;
  try {
    if (!deps.relay) {
      throw new Error(
        'this handler has no relay (HandlerOptions.relay); outputs and dead letters need one',
      );
    }
    await deps.relay().send(outbox);
  } catch (error) {
    report.outputsPending = outbox.length;
    throw new OutputsUndeliveredError(
      topic,
      partition,
      txn.checkpoint.offset,
      outbox.length,
      error,
    );
  }
  report.outputsRelayed += outbox.length;
  report.outputsPending = 0;
  if (clear) await txn.outboxDelivered();
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
