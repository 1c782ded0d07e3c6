import { environmentRelay } from '../output/index.ts';
import { DynamoStateStore, fetchDynamoApi } from '../state/index.ts';
import { consumerOf } from './consumer.ts';
import { ConsumerDefinitionError } from './errors.ts';
import { createHandler, type KafkaHandler } from './handler.ts';

/**
 * The handler `dogear build` exports from a consumer's Lambda bundle, with state in the DynamoDB
 * table named by `DOGEAR_DYNAMODB_TABLE`. It runs once per cold start, so the client, the
 * consumer instance, the state cache and the relay live as long as the process.
 */
export function lambdaHandler(consumer: unknown): KafkaHandler {
  const definition = consumerOf(consumer);
  if (!definition) {
    throw new ConsumerDefinitionError(
      'lambdaHandler() takes a class decorated with @consumer or a defineConsumer() result',
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
  // Outputs and dead letters go to the event's cluster, as the plugin's DOGEAR_KAFKA_* say.
  return createHandler(deployed, {
    store: new DynamoStateStore({ api, table }),
    relay: (source) => environmentRelay(source),
  });
}
