import { DogearError } from '../errors.ts';

/** The base of the relay's errors: delivering what commits left in the outbox. */
export class OutputError extends DogearError {
  override name = 'OutputError';
}

/**
 * How a relay was set up cannot work: a connection option, an environment variable, a
 * destination no route is configured for. Fixing it needs a change of configuration, not a retry.
 */
export class OutputConfigError extends OutputError {
  override name = 'OutputConfigError';
}

/**
 * A message of the outbox was not delivered. It stays in the outbox: the invocation fails, Lambda
 * delivers the batch again, and the retry relays it before it runs any record.
 */
export class OutputDeliveryError extends OutputError {
  override name = 'OutputDeliveryError';
  constructor(
    message: string,
    /** The message's `origin`: `<group>|<topic>|<partition>|<offset>|<index>`. */
    readonly origin: string,
    /** Where it was going: a topic, a queue ARN or a bucket ARN. */
    readonly to: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
