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
    const first = failures[0]?.message ?? 'unknown failure';
    super(
      failures.length === 1
        ? first
        : `${first} (and ${failures.length - 1} more partitions failed)`,
      {
        cause: failures[0],
      },
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
