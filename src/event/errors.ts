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

/** A record too large for any event Lambda could deliver: alone it is over the 6 MB payload. */
export class RecordTooLargeError extends EventFormatError implements RecordCoordinates {
  override name = 'RecordTooLargeError';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  constructor(
    at: RecordCoordinates,
    /** The record's share of the event JSON, in bytes. */
    readonly bytes: number,
    limit: number,
  ) {
    super(
      `Record ${formatCoordinates(at)} is ${megabytes(bytes)} as event JSON (key and value in base64), and an event Lambda delivers holds at most ${megabytes(limit)}; no batch can carry it, so shrink the record (its bytes grow by a third in base64)`,
    );
    this.topic = at.topic;
    this.partition = at.partition;
    this.offset = at.offset;
  }
}

/** `6.3 MB`, in MiB as Lambda counts its payload limit. */
function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, '')} MB`;
}
