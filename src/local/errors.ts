import { DogearError } from '../errors.ts';

/** A problem with what the user pointed a local command at: a file, a consumer name. */
export class LocalInputError extends DogearError {
  override name = 'LocalInputError';
}

/**
 * `dogear invoke` stopped on failures it can name one by one: partitions of one invocation, or
 * records a partial batch response kept naming after every retry. `headline` says what they
 * have in common; the message holds every failure once.
 */
export class InvokeFailedError extends DogearError {
  override name = 'InvokeFailedError';
  constructor(
    readonly headline: string,
    readonly failures: readonly Error[],
  ) {
    super(
      failures.length === 1
        ? `${failures[0]!.message}; ${headline}`
        : `${headline}: ${failures.map((f) => f.message).join('; ')}`,
      { cause: failures[0] },
    );
  }
}
