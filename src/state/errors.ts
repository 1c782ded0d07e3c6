import { DogearError } from '../errors.ts';

/** The base of state errors. */
export class StateError extends DogearError {
  override name = 'StateError';
}

/** Where a write was made: the record that made it, and the item. */
export interface WriteCoordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly table: string;
  readonly key: string;
}

/** A state error about one record's write: it names the record and the item. */
abstract class StateWriteError extends StateError implements Partial<WriteCoordinates> {
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: number;
  readonly table?: string;
  readonly key?: string;
  constructor(message: string, at: Partial<WriteCoordinates> = {}, options?: ErrorOptions) {
    super(message, options);
    this.topic = at.topic;
    this.partition = at.partition;
    this.offset = at.offset;
    this.table = at.table;
    this.key = at.key;
  }
}

/**
 * A commit lost a race: the checkpoint or an item changed since it was read. The slice is rerun
 * from the checkpoint; users only see this when reruns are exhausted.
 */
export class StateConflictError extends StateError {
  override name = 'StateConflictError';
  constructor(
    message: string,
    /** The items whose versions did not match; empty when the checkpoint did. */
    readonly items: ReadonlyArray<{ table: string; key: string }>,
    readonly checkpoint: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A value or a commit is larger than the store allows. */
export class StateLimitError extends StateWriteError {
  override name = 'StateLimitError';
}

/** `add` met a value that is not a number. */
export class StateTypeError extends StateWriteError {
  override name = 'StateTypeError';
}

/** A value or a key DynamoDB would refuse (see the write rules in docs/state.md). */
export class StateValueError extends StateWriteError {
  override name = 'StateValueError';
}

/** The transaction's steps were called out of order: a bug in the caller, never in data. */
export class StateProtocolError extends StateError {
  override name = 'StateProtocolError';
}
