import { DogearError, type RecordCoordinates } from '../errors.ts';
import type { Fault } from './types.ts';

/** The base of errors about a test's own use of `dogear/testing`. */
export class TestingError extends DogearError {
  override name = 'TestingError';
}

/** `invoke()` was called wrongly: an unknown option, a fault that cannot happen. */
export class TestingOptionError extends TestingError {
  override name = 'TestingOptionError';
}

/**
 * A failure a test asked for with `faults`. It carries the record it failed, when it failed one,
 * so the invocation's error names that record as it would a real failure.
 */
export class InjectedFaultError extends TestingError implements Partial<RecordCoordinates> {
  override name = 'InjectedFaultError';
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: number;
  constructor(
    /** The fault as the test wrote it. */
    readonly fault: Fault,
    message: string,
    at?: RecordCoordinates,
  ) {
    super(message);
    this.topic = at?.topic;
    this.partition = at?.partition;
    this.offset = at?.offset;
  }
}
