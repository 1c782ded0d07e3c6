/**
 * The Powertools side of the Avro pair in bench/bundle-avro.ts: payment-totals written the way
 * it is written today, as one file a user would bundle and deploy, like word-count.ts beside it.
 * middy around `kafkaConsumer` with an Avro value schema (Powertools decodes it with its peer
 * dependency avro-js), `makeIdempotent` with a `DynamoDBPersistenceLayer` keyed by
 * topic/partition/offset, and one `UpdateItem ADD` per payment on a totals table.
 *
 * Powertools reads bare Avro only: a Confluent-framed value fails to decode
 * (https://github.com/aws-powertools/powertools-lambda-typescript/issues/5278), so this side is
 * given the same payloads without the frame.
 *
 * Environment: `IDEMPOTENCY_TABLE` (key `id`), `TOTALS_TABLE` (key `account`, the sum in
 * `total`), `AWS_LAMBDA_FUNCTION_NAME` (the idempotency key prefix), and optionally
 * `BASELINE_DYNAMODB_ENDPOINT` (DynamoDB Local).
 */
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { kafkaConsumer, SchemaType } from '@aws-lambda-powertools/kafka';
import type { ConsumerRecord, SchemaConfig } from '@aws-lambda-powertools/kafka/types';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import middy from '@middy/core';
import { Payment } from '../avro/payment.ts';

interface PaymentValue {
  id: string;
  account: string;
  amount: number;
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`The baseline needs ${name}`);
  return value;
}

const endpoint = process.env.BASELINE_DYNAMODB_ENDPOINT;
const clientConfig = endpoint ? { endpoint } : {};
const idempotencyClient = new DynamoDBClient(clientConfig);
const totalsClient = new DynamoDBClient(clientConfig);
const totalsTable = env('TOTALS_TABLE');

const persistenceStore = new DynamoDBPersistenceLayer({
  tableName: env('IDEMPOTENCY_TABLE'),
  awsSdkV3Client: idempotencyClient,
});
// As in bench/dynamodb-baseline.ts: the layer silently falls back to a client for real AWS.
if ((persistenceStore as unknown as { client: unknown }).client !== idempotencyClient) {
  throw new Error('DynamoDBPersistenceLayer did not take the given client');
}
const config = new IdempotencyConfig({
  eventKeyJmesPath: '[topic, partition, offset]',
  throwOnNoIdempotencyKey: true,
});

const addPayment = async (record: ConsumerRecord<unknown, PaymentValue>): Promise<void> => {
  const payment = record.value; // a getter: parses the schema and decodes on every read
  if (payment === null || payment === undefined) return;
  await totalsClient.send(
    new UpdateItemCommand({
      TableName: totalsTable,
      Key: { account: { S: payment.account } },
      UpdateExpression: 'ADD #total :amount',
      ExpressionAttributeNames: { '#total': 'total' },
      ExpressionAttributeValues: { ':amount': { N: String(payment.amount) } },
    }),
  );
};
const addPaymentOnce = makeIdempotent(addPayment, {
  persistenceStore,
  config,
  keyPrefix: env('AWS_LAMBDA_FUNCTION_NAME'),
});

const schemaConfig = {
  value: { type: SchemaType.AVRO, schema: JSON.stringify(Payment) },
} satisfies SchemaConfig;

export const handler = middy(
  kafkaConsumer<unknown, PaymentValue>(async (event, context) => {
    config.registerLambdaContext(context);
    for (const record of event.records) await addPaymentOnce(record);
  }, schemaConfig),
);
