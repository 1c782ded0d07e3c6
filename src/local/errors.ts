import { DogearError } from '../errors.ts';

/** A problem with what the user pointed a local command at: a file, a consumer name. */
export class LocalInputError extends DogearError {
  override name = 'LocalInputError';
}
