/**
 * The baseline's Lambda entry for bench/bundle.bench.ts: `word-count` written the way it is
 * written today, as one file a user would bundle and deploy. middy around the Powertools
 * handler of bench/dynamodb-baseline.ts (`kafkaConsumer` + `makeIdempotent` with a
 * `DynamoDBPersistenceLayer` keyed by topic/partition/offset + one `UpdateItem ADD` per word),
 * with clients built once per cold start, as in any Lambda.
 *
 * The persistence layer gets a client of its own, as it builds one when given none.
 *
 * Environment: `IDEMPOTENCY_TABLE` (key `id`), `COUNTS_TABLE` (key `word`),
 * `AWS_LAMBDA_FUNCTION_NAME` (the idempotency key prefix), and optionally
 * `BASELINE_DYNAMODB_ENDPOINT` (DynamoDB Local).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import middy from '@middy/core';
import { createBaselineHandler } from '../dynamodb-baseline.ts';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`The baseline needs ${name}`);
  return value;
}

const endpoint = process.env.BASELINE_DYNAMODB_ENDPOINT;
const clientConfig = endpoint ? { endpoint } : {};

export const handler = middy(
  createBaselineHandler({
    idempotencyClient: new DynamoDBClient(clientConfig),
    idempotencyTable: env('IDEMPOTENCY_TABLE'),
    countsClient: new DynamoDBClient(clientConfig),
    countsTable: env('COUNTS_TABLE'),
    keyPrefix: env('AWS_LAMBDA_FUNCTION_NAME'),
  }),
);
