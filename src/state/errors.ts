import { DogearError } from '../errors.ts';

/** The base of state errors. */
export class StateError extends DogearError {
  override name = 'StateError';
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
export class StateLimitError extends StateError {
  override name = 'StateLimitError';
}

/** `add` met a value that is not a number. */
export class StateTypeError extends StateError {
  override name = 'StateTypeError';
}
