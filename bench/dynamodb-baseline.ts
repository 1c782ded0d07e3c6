/**
 * The baseline of bench/dynamodb.bench.ts: word-count written the way a Lambda function reading
 * MSK is written today, with Powertools for AWS Lambda. `kafkaConsumer` decodes the event, the
 * idempotency utility (a `DynamoDBPersistenceLayer` on its own table) keeps a record from being
 * counted twice, keyed by the record's topic, partition and offset, and every distinct word of
 * a page is one `UpdateItem … ADD` on a counts table.
 *
 * It is written to be generous to the baseline: a page's words are summed first (one request
 * per distinct word, not per occurrence) and sent concurrently; records go one by one, in order,
 * as the idempotency utility needs each record's claim before its writes.
 *
 * Not exactly-once, unlike dogear: if one of a page's `UpdateItem`s fails, the utility deletes
 * the page's in-progress record and the retried batch adds the words that did land again.
 */
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { kafkaConsumer } from '@aws-lambda-powertools/kafka';
import type { ConsumerRecord } from '@aws-lambda-powertools/kafka/types';
import { type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';

export interface BaselineOptions {
  /** The client for the idempotency persistence layer. */
  idempotencyClient: DynamoDBClient;
  /** Its table: partition key `id` (string). */
  idempotencyTable: string;
  /** The client for the counts table. */
  countsClient: DynamoDBClient;
  /** Partition key `word` (string), the count in `n`. */
  countsTable: string;
  /** Prefix of every idempotency key (Powertools uses AWS_LAMBDA_FUNCTION_NAME by default). */
  keyPrefix: string;
}

/** The regex functions/word-count.ts uses. */
const WORD = /\p{L}+/gu;

/** The Lambda handler: `(mskEvent, context) => Promise`. */
export function createBaselineHandler(options: BaselineOptions) {
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: options.idempotencyTable,
    awsSdkV3Client: options.idempotencyClient,
  });
  // The layer falls back, with only a console.warn, to a default client (real AWS, the region
  // from the environment) when it does not recognize the client it is given. Make sure it didn't.
  if ((persistenceStore as unknown as { client: unknown }).client !== options.idempotencyClient) {
    throw new Error('DynamoDBPersistenceLayer did not take the given client');
  }
  const config = new IdempotencyConfig({
    eventKeyJmesPath: '[topic, partition, offset]',
    // Without this, a key path that finds nothing silently skips idempotency.
    throwOnNoIdempotencyKey: true,
  });

  const countPage = async (record: ConsumerRecord<unknown, string>): Promise<void> => {
    const text = record.value; // a getter: decodes base64 on every read
    if (text === null || text === undefined) return;
    const words = new Map<string, number>();
    for (const word of text.toLowerCase().match(WORD) ?? []) {
      words.set(word, (words.get(word) ?? 0) + 1);
    }
    await Promise.all(
      Array.from(words, ([word, n]) =>
        options.countsClient.send(
          new UpdateItemCommand({
            TableName: options.countsTable,
            Key: { word: { S: word } },
            UpdateExpression: 'ADD n :n',
            ExpressionAttributeValues: { ':n': { N: String(n) } },
          }),
        ),
      ),
    );
  };
  const countPageOnce = makeIdempotent(countPage, {
    persistenceStore,
    config,
    keyPrefix: options.keyPrefix,
  });

  // No schema config: kafkaConsumer decodes each value as a UTF-8 string.
  return kafkaConsumer<unknown, string>(async (event, context) => {
    config.registerLambdaContext(context);
    for (const record of event.records) await countPageOnce(record);
  });
}
