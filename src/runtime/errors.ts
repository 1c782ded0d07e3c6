import { DogearError, formatCoordinates, type RecordCoordinates } from '../errors.ts';
import { RecordDecodeError } from '../event/index.ts';

/** The base of errors about consumers and how they run. */
export class ConsumerError extends DogearError {
  override name = 'ConsumerError';
}

/** A consumer is declared wrongly (no handler, a bad option): found when it is defined. */
export class ConsumerDefinitionError extends ConsumerError {
  override name = 'ConsumerDefinitionError';
}

/** One record failed: its effects were dropped and every earlier record of its partition committed. */
export class RecordFailedError extends ConsumerError implements RecordCoordinates {
  override name = 'RecordFailedError';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  constructor(consumer: string, at: RecordCoordinates, cause: unknown) {
    // A decode error already names the record; say where once.
    const reason =
      cause instanceof RecordDecodeError
        ? cause.problem
        : cause instanceof Error
          ? cause.message
          : String(cause);
    super(`Record ${formatCoordinates(at)} failed in consumer ${consumer}: ${reason}`, { cause });
    this.topic = at.topic;
    this.partition = at.partition;
    this.offset = at.offset;
  }
}

/**
 * The invocation failed, so Lambda will retry the batch. Every partition without a failure was
 * committed whole; each failed partition up to its failed record.
 */
export class BatchFailedError extends ConsumerError {
  override name = 'BatchFailedError';
  constructor(
    readonly failures: readonly Error[],
    readonly report: unknown,
  ) {
    // Every partition's error, since Lambda logs this message and nothing else of the others.
    super(
      failures.length === 1
        ? (failures[0]?.message ?? 'unknown failure')
        : `${failures.length} partitions failed: ${failures.map((f) => f.message).join('; ')}`,
      { cause: failures[0] },
    );
  }
}

/**
 * A `ctx.once` effect started on an earlier delivery and never finished (the process died or
 * timed out in it), so whether it happened is unknown. It is not run again.
 */
export class OnceInterruptedError extends ConsumerError implements RecordCoordinates {
  override name = 'OnceInterruptedError';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  constructor(effect: string, at: RecordCoordinates) {
    super(
      `ctx.once('${effect}') for ${formatCoordinates(at)} started on an earlier delivery and never finished, so it may or may not have happened; check the effect, then pass { ifInterrupted: 'skip' } (it happened) or 'run' (run it again)`,
    );
    this.topic = at.topic;
    this.partition = at.partition;
    this.offset = at.offset;
  }
}

/**
 * A `ctx.once` effect is still running in another invocation of the same record (Lambda can
 * run two at once: a retry beside a slow one, or overlapping slices). Its outcome is not known
 * yet, so the record fails and Lambda redelivers it: by then the effect has finished (its
 * result is returned) or its invocation's lease ran out (`OnceInterruptedError`).
 */
export class OnceInProgressError extends ConsumerError implements RecordCoordinates {
  override name = 'OnceInProgressError';
  /** Redelivering the record is the fix: nothing to change. */
  readonly retryable = true;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  constructor(
    effect: string,
    at: RecordCoordinates,
    /** When the other invocation claimed the effect, and until when it may still run (ms). */
    readonly startedAt: number,
    readonly leaseUntil: number,
  ) {
    super(
      `ctx.once('${effect}') for ${formatCoordinates(at)} is still running in another invocation (started ${new Date(startedAt).toISOString()}; it may run until ${new Date(leaseUntil).toISOString()}); the record fails so Lambda redelivers it, and the redelivery gets the effect's result`,
    );
    this.topic = at.topic;
    this.partition = at.partition;
    this.offset = at.offset;
  }
}

/**
 * `ctx.once` was called from an `@onBatch` handler. A batch has no single record to key the
 * effect by, and Lambda can deliver overlapping slices (0–4 beside 0–9), so any key the slice
 * gives would let a shorter slice run the effect again.
 */
export class OnceInBatchError extends ConsumerError {
  override name = 'OnceInBatchError';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  constructor(
    consumer: string,
    effect: string,
    at: { topic: string; partition: number; from: number; to: number },
  ) {
    super(
      `ctx.once('${effect}') cannot run in the @onBatch handler of consumer ${consumer} (slice ${at.topic}-${at.partition}@${at.from}..${at.to}): a batch has no single record to key the effect by, and an overlapping shorter slice would run it again; call ctx.once from an @onRecord handler, or guard the effect with a key of your own in ctx.table (for example, the id of what it sends)`,
    );
    this.topic = at.topic;
    this.partition = at.partition;
    this.offset = at.from;
  }
}

/** What told a new log from the same log read again. */
export type NewLogEvidence =
  | { readonly by: 'fingerprint'; readonly committed: string; readonly found: string }
  | { readonly by: 'topic id'; readonly committed: string; readonly found: string };

/**
 * The partition's checkpoint belongs to another log than the one delivered now: the topic was
 * deleted and recreated, or the broker lost its log, and offsets started again below the
 * checkpoint. Its records would be skipped as duplicates forever, so the partition fails instead.
 */
export class TopicRecreatedError extends ConsumerError implements RecordCoordinates {
  override name = 'TopicRecreatedError';
  readonly topic: string;
  readonly partition: number;
  /** The checkpoint's offset. */
  readonly offset: number;
  constructor(
    consumer: string,
    readonly group: string,
    at: RecordCoordinates,
    readonly evidence: NewLogEvidence,
  ) {
    const { topic, partition, offset } = at;
    const what =
      evidence.by === 'fingerprint'
        ? `the record at offset ${offset} is not the one committed there (fingerprint ${evidence.found}, committed ${evidence.committed})`
        : `the topic id changed (now ${evidence.found}, committed under ${evidence.committed})`;
    super(
      `The checkpoint of group ${group} for ${topic}-${partition} is at offset ${offset}, but ${what}: the topic was recreated or the broker lost its log. Every record at or below offset ${offset} would be skipped as a duplicate forever, so nothing of ${topic}-${partition} runs. To start over, forget the group's state and offsets: with the file store, \`dogear invoke ${consumer} --events <file> --reset\` or delete .dogear/state/${group}.jsonl; in DynamoDB, delete the items whose pk starts with c|${group}| (checkpoints), s|${group}| (state) and o|${group}| (ctx.once records), with every consumer of the group stopped`,
    );
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
  }
}

/**
 * `ctx.emit` was called with what cannot become an output: a topic the consumer does not list
 * in `emits`, a value its format cannot encode, a reserved header. The record fails.
 */
export class EmitError extends ConsumerError implements RecordCoordinates {
  override name = 'EmitError';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  constructor(at: RecordCoordinates, message: string, options?: ErrorOptions) {
    super(`ctx.emit at ${formatCoordinates(at)}: ${message}`, options);
    this.topic = at.topic;
    this.partition = at.partition;
    this.offset = at.offset;
  }
}

/**
 * The outputs (and dead letters) a commit left in the outbox could not be delivered. Nothing is
 * lost: they stay in the checkpoint item, and the next delivery of the partition (Lambda
 * retries the failed invocation) sends them before it runs any record.
 */
export class OutputsUndeliveredError extends ConsumerError {
  override name = 'OutputsUndeliveredError';
  constructor(
    readonly topic: string,
    readonly partition: number,
    /** The checkpoint offset the outbox was committed with. */
    readonly offset: number,
    readonly pending: number,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `${pending} output(s) of ${topic}-${partition}, committed with offset ${offset}, are not delivered yet: ${reason}. They stay in the outbox and are sent before any new record of the partition runs, when Lambda retries this invocation`,
      { cause },
    );
  }
}
