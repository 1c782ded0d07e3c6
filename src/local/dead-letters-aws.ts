/**
 * Dead letters in an SQS queue or an S3 bucket, as `awsRelay` wrote them (`deadLetterDocument`),
 * read back and removed once re-driven.
 *
 * A queue is read with ReceiveMessage until a receive returns none: what was received stays
 * invisible for `VISIBILITY_TIMEOUT_S`, so one pass sees each message once. Listing alone
 * makes them visible again at its end (ChangeMessageVisibility 0); a replay deletes them.
 * A bucket is listed (ListObjectsV2) under `<group>/` and each object read (GetObject).
 */
import { AwsClient } from 'aws4fetch';
import { type AwsCredentials, awsErrorCode, awsJsonCall, environmentCredentials } from '../aws.ts';
import {
  type AwsRelayOptions,
  type DeadLetterDocument,
  type QueueArn,
  queueUrl,
} from '../output/index.ts';
import { LocalInputError } from './errors.ts';

/** How long a received message stays invisible to others (and to the next receive), seconds. */
export const VISIBILITY_TIMEOUT_S = 30;

/** Where the dead letters are read from: the same endpoint, region and credentials as the relay's. */
export type DeadLetterStoreOptions = Omit<AwsRelayOptions, 'sqsMaxMessageBytes'>;

/** A document and how to remove it once re-driven. */
export interface StoredDeadLetter {
  readonly document: DeadLetterDocument;
  /** Where it lies: the SQS message id, or the S3 object key. */
  readonly where: string;
  /** The receipt handle (SQS) or object key (S3) that deletes it. */
  readonly handle: string;
}

const endpointOf = (options: DeadLetterStoreOptions) =>
  (options.endpoint ?? process.env.DOGEAR_AWS_ENDPOINT)?.replace(/\/+$/, '');

async function credentialsOf(options: DeadLetterStoreOptions): Promise<AwsCredentials> {
  try {
    return await (options.credentials ?? environmentCredentials)();
  } catch (error) {
    throw new LocalInputError((error as Error).message, { cause: error });
  }
}

/** What AWS answered instead, as one sentence with the fix. */
async function refusal(to: string, what: string, response: Response): Promise<LocalInputError> {
  const code = await awsErrorCode(response);
  const fix =
    response.status === 403
      ? `grant your credentials ${what} on it`
      : /NonExistentQueue|QueueDoesNotExist|NoSuchBucket/.test(code)
        ? "it does not exist: fix the consumer's deadLetter.to"
        : 'try again';
  return new LocalInputError(
    `${to} refused ${what} (${response.status}${code ? ` ${code}` : ''}); ${fix}`,
  );
}

/** One request; one that could not be made says where it was going. */
async function request(to: string, what: string, send: () => Promise<Response>) {
  try {
    return await send();
  } catch (error) {
    if (error instanceof LocalInputError) throw error;
    const why =
      (error as Error).name === 'TimeoutError' ? 'no answer in time' : (error as Error).message;
    throw new LocalInputError(`Cannot reach ${to} for ${what} (${why})`, { cause: error });
  }
}

/** The queue: one AWS JSON 1.0 call. */
function sqsCaller(to: string, queue: QueueArn, options: DeadLetterStoreOptions) {
  const endpoint = endpointOf(options);
  const api = {
    service: 'sqs',
    region: queue.region,
    endpoint:
      endpoint ??
      `https://sqs.${queue.region}.${queue.partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com'}`,
    version: '1.0' as const,
  };
  const url = queueUrl(queue, endpoint);
  return async (operation: string, body: object) => {
    const what = `sqs:${operation}`;
    const response = await request(to, what, async () => {
      const credentials = await credentialsOf(options);
      return awsJsonCall(
        { ...api, target: `AmazonSQS.${operation}` },
        { QueueUrl: url, ...body },
        async () => credentials,
        { timeoutMs: options.timeoutMs ?? 10_000 },
      );
    });
    if (!response.ok) throw await refusal(to, what, response);
    return (await response.json().catch(() => ({}))) as Record<string, unknown>;
  };
}

/**
 * Every message of the queue, received until a receive returns none. Unless `keepInvisible`,
 * they are made visible again before this returns.
 */
export async function readQueue(
  to: string,
  queue: QueueArn,
  options: DeadLetterStoreOptions & { keepInvisible?: boolean },
): Promise<StoredDeadLetter[]> {
  const call = sqsCaller(to, queue, options);
  const found = new Map<string, StoredDeadLetter>();
  for (;;) {
    const received = await call('ReceiveMessage', {
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      VisibilityTimeout: VISIBILITY_TIMEOUT_S,
    });
    const messages = (received.Messages ?? []) as Array<{
      MessageId: string;
      ReceiptHandle: string;
      Body: string;
    }>;
    if (messages.length === 0) break;
    for (const m of messages) {
      found.set(m.MessageId, {
        document: documentOf(m.Body, `${to} message ${m.MessageId}`),
        where: m.MessageId,
        handle: m.ReceiptHandle,
      });
    }
  }
  const letters = [...found.values()];
  if (!options.keepInvisible) {
    for (const letter of letters) {
      await call('ChangeMessageVisibility', {
        ReceiptHandle: letter.handle,
        VisibilityTimeout: 0,
      });
    }
  }
  return letters;
}

/** Deletes re-driven messages from the queue. */
export async function deleteFromQueue(
  to: string,
  queue: QueueArn,
  letters: readonly StoredDeadLetter[],
  options: DeadLetterStoreOptions,
): Promise<void> {
  const call = sqsCaller(to, queue, options);
  for (const letter of letters) await call('DeleteMessage', { ReceiptHandle: letter.handle });
}

/** The bucket: signed S3 REST requests, path-style on an endpoint override. */
function s3Caller(to: string, bucket: string, options: DeadLetterStoreOptions) {
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new LocalInputError(
      `Reading the dead letters in ${to} needs the bucket's region: set AWS_REGION`,
    );
  }
  const endpoint = endpointOf(options);
  const base = endpoint ? `${endpoint}/${bucket}` : `https://${bucket}.s3.${region}.amazonaws.com`;
  return async (what: string, path: string, method = 'GET') => {
    const response = await request(to, what, async () => {
      const client = new AwsClient({
        ...(await credentialsOf(options)),
        service: 's3',
        region,
        retries: 0,
      });
      const signed = await client.sign(`${base}${path}`, { method });
      return fetch(signed, { signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
    });
    if (!response.ok) throw await refusal(to, what, response);
    return response;
  };
}

const encodeKey = (key: string) => key.split('/').map(encodeURIComponent).join('/');
const xmlText = (s: string) =>
  s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (_, e: string) =>
    e === 'lt'
      ? '<'
      : e === 'gt'
        ? '>'
        : e === 'quot'
          ? '"'
          : e === 'apos'
            ? "'"
            : e === 'amp'
              ? '&'
              : String.fromCodePoint(
                  e[1] === 'x' || e[1] === 'X'
                    ? Number.parseInt(e.slice(2), 16)
                    : Number(e.slice(1)),
                ),
  );

/** Every object under `<group>/`, read. */
export async function readBucket(
  to: string,
  bucket: string,
  group: string,
  options: DeadLetterStoreOptions,
): Promise<StoredDeadLetter[]> {
  const call = s3Caller(to, bucket, options);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const query = `?list-type=2&prefix=${encodeURIComponent(`${group}/`)}${token ? `&continuation-token=${encodeURIComponent(token)}` : ''}`;
    const xml = await (await call('s3:ListBucket', `/${query}`)).text();
    for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(xmlText(m[1]!));
    token = /<IsTruncated>true<\/IsTruncated>/.test(xml)
      ? xmlText(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1] ?? '')
      : undefined;
  } while (token);
  const letters: StoredDeadLetter[] = [];
  for (const key of keys.filter((k) => k.endsWith('.json'))) {
    const body = await (await call('s3:GetObject', `/${encodeKey(key)}`)).text();
    letters.push({ document: documentOf(body, `${to} object ${key}`), where: key, handle: key });
  }
  return letters;
}

/** Deletes re-driven objects from the bucket. */
export async function deleteFromBucket(
  to: string,
  bucket: string,
  letters: readonly StoredDeadLetter[],
  options: DeadLetterStoreOptions,
): Promise<void> {
  const call = s3Caller(to, bucket, options);
  for (const letter of letters)
    await call('s3:DeleteObject', `/${encodeKey(letter.handle)}`, 'DELETE');
}

/** A document as `deadLetterDocument` made it, or an error naming where it lies. */
function documentOf(body: string, where: string): DeadLetterDocument {
  let document: DeadLetterDocument;
  try {
    document = JSON.parse(body) as DeadLetterDocument;
  } catch (error) {
    throw new LocalInputError(`${where} is not JSON, so it is not a dogear dead letter`, {
      cause: error,
    });
  }
  const { topic, partition, offset, error } = document;
  if (
    typeof topic !== 'string' ||
    typeof partition !== 'number' ||
    typeof offset !== 'number' ||
    typeof error !== 'object' ||
    !Array.isArray(document.headers)
  ) {
    throw new LocalInputError(
      `${where} has no topic, partition, offset, error and headers, so it is not a dogear dead letter; does anything else write to the consumer's deadLetter.to?`,
    );
  }
  return document;
}
