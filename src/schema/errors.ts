import { DogearError } from '../errors.ts';

/**
 * Whether retrying can help: a registry that is down or refuses the credentials may answer
 * later (`retry`: the record fails and Lambda delivers it again); bad framing, a payload that
 * does not parse or an incompatible schema never will (`permanent`: what dead letters are for).
 */
export type SchemaFailure = 'retry' | 'permanent';

/**
 * A key or value that could not be decoded through its schema. The message says what is wrong
 * and the fix; the runtime adds the record (topic, partition, offset) and the schema id.
 */
export class SchemaDecodeError extends DogearError {
  override name = 'SchemaDecodeError';
  constructor(
    message: string,
    readonly failure: SchemaFailure,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A registry could not answer (down, refused, timed out) or does not know the schema. */
export class SchemaRegistryError extends SchemaDecodeError {
  override name = 'SchemaRegistryError';
}

/**
 * A value that cannot be written in the schema asked for (`encode`, as `dogear produce` and
 * `dogear events` use it): the message names the field and the schema; the caller adds the
 * NDJSON line.
 */
export class SchemaEncodeError extends DogearError {
  override name = 'SchemaEncodeError';
}
