/** Where a record sits in the log: the coordinates every record error carries. */
export interface RecordCoordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** The root of every error dogear throws on purpose. */
export class DogearError extends Error {
  override name = 'DogearError';
}

/** Formats coordinates the way Kafka tools print them: `topic-partition@offset`. */
export function formatCoordinates(at: RecordCoordinates): string {
  return `${at.topic}-${at.partition}@${at.offset}`;
}
