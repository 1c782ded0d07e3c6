import type {
  BatchGetItemCommandInput,
  BatchGetItemCommandOutput,
  BatchWriteItemCommandInput,
  BatchWriteItemCommandOutput,
  CreateTableCommandInput,
  DeleteItemCommandInput,
  DescribeTableCommandInput,
  GetItemCommandInput,
  GetItemCommandOutput,
  PutItemCommandInput,
  ScanCommandInput,
  ScanCommandOutput,
  TransactWriteItemsCommandInput,
  UpdateItemCommandInput,
  UpdateTimeToLiveCommandInput,
} from '@aws-sdk/client-dynamodb';
import { AwsClient } from 'aws4fetch';
import { type AwsCredentials, environmentCredentials } from '../../aws.ts';
import { backoff } from '../../backoff.ts';

/**
 * The DynamoDB calls the store makes, as data. The shapes are DynamoDB's JSON protocol, which
 * the SDK's types describe (imported as types only, so no SDK code ships in a bundle).
 */
export interface Operation<I, O> {
  readonly action: string;
  readonly input: I;
  /** Only carries the output type. */
  readonly output?: O;
}

const operation =
  <I, O = Record<string, unknown>>(action: string) =>
  (input: I): Operation<I, O> => ({ action, input });

export const GetItem = operation<GetItemCommandInput, Pick<GetItemCommandOutput, 'Item'>>(
  'GetItem',
);
export const PutItem = operation<PutItemCommandInput>('PutItem');
export const UpdateItem = operation<UpdateItemCommandInput>('UpdateItem');
export const DeleteItem = operation<DeleteItemCommandInput>('DeleteItem');
export const TransactWriteItems = operation<TransactWriteItemsCommandInput>('TransactWriteItems');
export const BatchGetItem = operation<
  BatchGetItemCommandInput,
  Pick<BatchGetItemCommandOutput, 'Responses' | 'UnprocessedKeys'>
>('BatchGetItem');
export const BatchWriteItem = operation<
  BatchWriteItemCommandInput,
  Pick<BatchWriteItemCommandOutput, 'UnprocessedItems'>
>('BatchWriteItem');
export const Scan = operation<
  ScanCommandInput,
  Pick<ScanCommandOutput, 'Items' | 'LastEvaluatedKey'>
>('Scan');
export const DescribeTable = operation<DescribeTableCommandInput>('DescribeTable');
export const CreateTable = operation<CreateTableCommandInput>('CreateTable');
export const UpdateTimeToLive = operation<UpdateTimeToLiveCommandInput>('UpdateTimeToLive');

/** Sends one operation; a failure is an `Error` named after DynamoDB's error type. */
export interface DynamoApi {
  send<I, O>(operation: Operation<I, O>): Promise<O>;
}

export type { AwsCredentials };

export interface FetchDynamoApiOptions {
  region: string;
  /** DynamoDB Local, or another endpoint. @default https://dynamodb.<region>.amazonaws.com */
  endpoint?: string;
  /** @default the environment's (what Lambda gives a function) */
  credentials?: () => Promise<AwsCredentials>;
  /** Attempts per call: throttling, 5xx and network errors are retried with backoff. @default 4 */
  maxAttempts?: number;
  /** Called for every HTTP request sent, retries included (benchmarks count them). */
  onRequest?: (action: string) => void;
}

/** DynamoDB's errors worth another attempt: the request was not applied. */
const RETRYABLE = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionInProgressException',
]);

/**
 * DynamoDB over `fetch`, signed with SigV4 by aws4fetch: the Lambda bundle's transport. The AWS
 * SDK does the same and more, but its client is most of a bundle's size and import time; this
 * is the part dogear needs. Retried transactions keep their `ClientRequestToken`, so a retry of
 * one that landed is not applied twice.
 */
export function fetchDynamoApi(options: FetchDynamoApiOptions): DynamoApi {
  const url = options.endpoint ?? `https://dynamodb.${options.region}.amazonaws.com/`;
  const credentials = options.credentials ?? environmentCredentials;
  const maxAttempts = options.maxAttempts ?? 4;
  let signer: { for: AwsCredentials; client: AwsClient } | undefined;

  return {
    async send<I, O>({ action, input }: Operation<I, O>): Promise<O> {
      for (let attempt = 1; ; attempt++) {
        const creds = await credentials();
        if (signer?.for !== creds) {
          signer = {
            for: creds,
            client: new AwsClient({
              ...creds,
              service: 'dynamodb',
              region: options.region,
              retries: 0,
            }),
          };
        }
        let response: Response;
        try {
          const request = await signer.client.sign(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/x-amz-json-1.0',
              'x-amz-target': `DynamoDB_20120810.${action}`,
            },
            body: JSON.stringify(input),
          });
          options.onRequest?.(action);
          response = await fetch(request);
        } catch (error) {
          if (attempt < maxAttempts) {
            await backoff(attempt, { cap: 1000 });
            continue;
          }
          throw new Error(
            `DynamoDB ${action} could not reach ${url}: ${(error as Error).message}`,
            { cause: error },
          );
        }
        const text = await response.text();
        if (response.ok) return (text ? JSON.parse(text) : {}) as O;
        const error = errorOf(response, text);
        if ((response.status >= 500 || RETRYABLE.has(error.name)) && attempt < maxAttempts) {
          await backoff(attempt, { cap: 1000 });
          continue;
        }
        throw error;
      }
    },
  };
}

/** `com.amazonaws.dynamodb.v20120810#TransactionCanceledException` → an Error of that name. */
function errorOf(response: Response, text: string): Error {
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  const type = String(
    body.__type ?? response.headers.get('x-amzn-errortype') ?? `Http${response.status}`,
  );
  const name = type.split('#').pop()!.split(':')[0]!;
  const message = String(body.message ?? body.Message ?? (text || response.statusText));
  const error = new Error(message);
  error.name = name;
  if (body.CancellationReasons)
    Object.assign(error, { CancellationReasons: body.CancellationReasons });
  return error;
}
