import type { OutboxRelay } from '../output/index.ts';
import { DynamoStateStore, fetchDynamoApi } from '../state/index.ts';
import { consumerOf } from './consumer.ts';
import { ConsumerDefinitionError } from './errors.ts';
import { createHandler, type KafkaHandler } from './handler.ts';

/**
 * The handler `dogear build` exports from a consumer's Lambda bundle, with state in the DynamoDB
 * table named by `DOGEAR_DYNAMODB_TABLE`. It runs once per cold start, so the client, the
 * consumer instance, the state cache and the relay live as long as the process.
 */
export function lambdaHandler(
  consumer: unknown,
  options: {
    /**
     * Delivers outputs and dead letters: `environmentRelay`, which `dogear build` passes for
     * consumers that emit or have a `deadLetter`. Others leave it out, and their bundles carry
     * no Kafka client.
     */
    relay?: (source: { readonly bootstrapServers?: string }) => OutboxRelay;
  } = {},
): KafkaHandler {
  const definition = consumerOf(consumer);
  if (!definition) {
    throw new ConsumerDefinitionError(
      'lambdaHandler() takes a class decorated with @consumer or a defineConsumer() result',
    );
  }
  if ((definition.emits.length > 0 || definition.deadLetter) && !options.relay) {
    throw new ConsumerDefinitionError(
      `Consumer ${definition.name} emits or has a deadLetter, so its handler needs a relay: lambdaHandler(consumer, { relay: environmentRelay }) (from dogear/lambda; dogear build writes it)`,
    );
  }
  const table = process.env.DOGEAR_DYNAMODB_TABLE;
  if (!table) {
    throw new ConsumerDefinitionError(
      `Consumer ${definition.name} needs DOGEAR_DYNAMODB_TABLE, the state table's name; dogear/serverless sets it`,
    );
  }
  const api = fetchDynamoApi({
    region: process.env.AWS_REGION ?? 'us-east-1',
    ...(process.env.DOGEAR_DYNAMODB_ENDPOINT
      ? { endpoint: process.env.DOGEAR_DYNAMODB_ENDPOINT }
      : {}),
  });
  // dogear/serverless sets this from the mapping's FunctionResponseTypes, so both agree.
  const partial = process.env.DOGEAR_REPORT_BATCH_ITEM_FAILURES;
  const deployed =
    partial === undefined
      ? definition
      : {
          ...definition,
          deploy: { ...definition.deploy, reportBatchItemFailures: partial === 'true' },
        };
  return createHandler(deployed, {
    store: new DynamoStateStore({ api, table }),
    ...(options.relay ? { relay: options.relay } : {}),
  });
}

/** The relay to the event's cluster, as the plugin's `DOGEAR_KAFKA_*` variables configure it. */
export { environmentRelay } from '../output/index.ts';
