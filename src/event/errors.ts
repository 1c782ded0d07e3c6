import { DogearError, formatCoordinates, type RecordCoordinates } from '../errors.ts';

/** The event itself is not the shape Lambda delivers. */
export class EventFormatError extends DogearError {
  override name = 'EventFormatError';
}

/** One record could not be decoded or failed its schema; it names the record. */
export class RecordDecodeError extends DogearError implements RecordCoordinates {
  override name = 'RecordDecodeError';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  constructor(
    at: RecordCoordinates,
    /** What is wrong, without the coordinates. */
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`Record ${formatCoordinates(at)}: ${problem}`, options);
    this.topic = at.topic;
    this.partition = at.partition;
    this.offset = at.offset;
  }
}
