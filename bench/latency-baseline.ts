/**
 * The baselines of bench/latency.bench.ts: the payments consumers written the way a Lambda
 * function reading MSK is written today with Powertools for AWS Lambda, as in
 * bench/dynamodb-baseline.ts. `kafkaConsumer` decodes each value as JSON; the idempotency
 * utility (a `DynamoDBPersistenceLayer` on its own table, keyed by the record's topic, partition
 * and offset) keeps a record from being applied twice; then, per record:
 * - balance: one `UpdateItem … ADD balance :amount` on a balances table;
 * - dedup: a consistent `GetItem` of the payment id on a seen table; when absent, a conditional
 *   `PutItem` (`attribute_not_exists`) that marks it seen, then `UpdateItem … ADD total` on a
 *   totals table.
 * Records go one by one, in order, as the idempotency utility needs each record's claim before
 * its writes. Not exactly-once, unlike dogear: a failure between the writes leaves half a record.
 */
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { kafkaConsumer, SchemaType } from '@aws-lambda-powertools/kafka';
import type { ConsumerRecord } from '@aws-lambda-powertools/kafka/types';
import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';

/** A payment, as the bench produces it. */
export interface Payment {
  readonly id: string;
  readonly account: string;
  readonly amount: number;
}

export type PaymentsBaselineTables =
  | { readonly kind: 'balance'; readonly balances: string }
  | { readonly kind: 'dedup'; readonly seen: string; readonly totals: string };

export interface PaymentsBaselineOptions {
  /** The client for the idempotency persistence layer. */
  idempotencyClient: DynamoDBClient;
  /** Its table: partition key `id` (string). */
  idempotencyTable: string;
  /** The client for the consumer's own tables. */
  client: DynamoDBClient;
  /** balances: key `account`, the sum in `balance`; seen: key `id`; totals: key `account`, `total`. */
  tables: PaymentsBaselineTables;
  /** Prefix of every idempotency key (Powertools uses AWS_LAMBDA_FUNCTION_NAME by default). */
  keyPrefix: string;
}

/** The Lambda handler: `(mskEvent, context) => Promise`. */
export function createPaymentsBaseline(options: PaymentsBaselineOptions) {
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: options.idempotencyTable,
    awsSdkV3Client: options.idempotencyClient,
  });
  // The layer falls back, with only a console.warn, to a default client (real AWS) when it does
  // not recognize the client it is given. Make sure it didn't.
  if ((persistenceStore as unknown as { client: unknown }).client !== options.idempotencyClient) {
    throw new Error('DynamoDBPersistenceLayer did not take the given client');
  }
  const config = new IdempotencyConfig({
    eventKeyJmesPath: '[topic, partition, offset]',
    throwOnNoIdempotencyKey: true,
  });
  const { client, tables } = options;

  const addTo = (table: string, account: string, attribute: string, amount: number) =>
    client.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { account: { S: account } },
        UpdateExpression: 'ADD #n :amount',
        ExpressionAttributeNames: { '#n': attribute },
        ExpressionAttributeValues: { ':amount': { N: String(amount) } },
      }),
    );

  const apply = async (record: ConsumerRecord<unknown, Payment>): Promise<void> => {
    const { id, account, amount } = record.value;
    if (tables.kind === 'balance') {
      await addTo(tables.balances, account, 'balance', amount);
      return;
    }
    const seen = await client.send(
      new GetItemCommand({ TableName: tables.seen, Key: { id: { S: id } }, ConsistentRead: true }),
    );
    if (seen.Item) return;
    try {
      await client.send(
        new PutItemCommand({
          TableName: tables.seen,
          Item: { id: { S: id } },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
    } catch (error) {
      // Another delivery marked it between the read and the write.
      if ((error as Error).name === 'ConditionalCheckFailedException') return;
      throw error;
    }
    await addTo(tables.totals, account, 'total', amount);
  };
  const applyOnce = makeIdempotent(apply, {
    persistenceStore,
    config,
    keyPrefix: options.keyPrefix,
  });

  return kafkaConsumer<unknown, Payment>(
    async (event, context) => {
      config.registerLambdaContext(context);
      for (const record of event.records) await applyOnce(record);
    },
    { value: { type: SchemaType.JSON } },
  );
}
