import { DogearError } from '../errors.ts';

/** The base of errors from `dogear/serverless`. */
export class ServerlessPluginError extends DogearError {
  override name = 'ServerlessPluginError';
}

/**
 * `custom.dogear` or a consumer's deploy options are wrong; `option` is the path to the bad
 * option (`custom.dogear.msk.arn`, `deploy.batchingWindow`) and `consumer` the consumer, if one.
 */
export class ServerlessConfigError extends ServerlessPluginError {
  override name = 'ServerlessConfigError';
  readonly option: string;
  readonly consumer?: string;
  constructor(message: string, at: { option: string; consumer?: string }, options?: ErrorOptions) {
    super(message, options);
    this.option = at.option;
    this.consumer = at.consumer;
  }
}

/** The compiled CloudFormation template lacks what the plugin expected the framework to emit. */
export class ServerlessTemplateError extends ServerlessPluginError {
  override name = 'ServerlessTemplateError';
}
