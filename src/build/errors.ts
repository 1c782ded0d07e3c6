import { DogearError } from '../errors.ts';

/** The project's consumers cannot be found, loaded, told apart or bundled. */
export class BuildError extends DogearError {
  override name = 'BuildError';
}
