/**
 * Dead letters to AWS: an SQS queue (`SendMessage`, AWS JSON 1.0) or an S3 bucket (`PutObject`),
 * each a JSON document of the record's bytes and why it was given up, signed with the function's
 * credentials.
 */
import { createHash } from 'node:crypto';
import { AwsClient } from 'aws4fetch';
import { type AwsCredentials, awsErrorCode, awsJsonCall, environmentCredentials } from '../aws.ts';
import { DEAD_LETTER_HEADER, type DeadLetterFacts, type OutboxMessage } from '../state/index.ts';
import { OutputConfigError, OutputDeliveryError } from './errors.ts';
import type { OutboxRelay } from './types.ts';

/**
 * SQS refuses a message body over the queue's `MaximumMessageSize`: 262,144 bytes (256 KiB) by
 * default, settable up to 1,048,576 (1 MiB).
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
 */
export const SQS_DEFAULT_MAX_MESSAGE_BYTES = 262_144;

export interface AwsRelayOptions {
  /**
   * One endpoint for SQS and S3 instead of AWS's (moto, LocalStack): queue URLs become
   * `<endpoint>/<account>/<queue>` and objects `<endpoint>/<bucket>/<key>`.
   * @default $DOGEAR_AWS_ENDPOINT, else AWS's endpoints of the queue's or function's region
   */
  endpoint?: string;
  /** The region of S3 buckets (a bucket ARN has none). @default $AWS_REGION */
  region?: string;
  /** @default the environment's (the function's role) */
  credentials?: () => Promise<AwsCredentials>;
  /**
   * The queues' `MaximumMessageSize`: a larger document is refused before it is sent.
   * @default 262144
   */
  sqsMaxMessageBytes?: number;
  /** Per request. @default 10000 */
  timeoutMs?: number;
}

/** What SQS and S3 receive for a dead letter. Key, value and header values are base64. */
export interface DeadLetterDocument extends Partial<DeadLetterFacts> {
  /** The outbox message's origin: what a reader dedups on. */
  readonly origin: string;
  readonly key: string | null;
  readonly value: string | null;
  /** The record's own headers, in order (the facts are above, not repeated in a header). */
  readonly headers: ReadonlyArray<readonly [name: string, base64: string | null]>;
}

/** The JSON document a dead letter is sent to SQS or S3 as. */
export function deadLetterDocument(message: OutboxMessage): DeadLetterDocument {
  return {
    ...message.deadLetter,
    origin: message.origin,
    key: message.key,
    value: message.value,
    headers: message.headers.filter(([name]) => name !== DEAD_LETTER_HEADER),
  };
}

/** An SQS queue's ARN, taken apart. */
export interface QueueArn {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly name: string;
}

/** `arn:<partition>:sqs:<region>:<account>:<queue>`, or undefined if `to` is none. */
export function parseQueueArn(to: string): QueueArn | undefined {
  const m = /^arn:(aws[a-z-]*):sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,80}(?:\.fifo)?)$/.exec(
    to,
  );
  return m ? { partition: m[1]!, region: m[2]!, account: m[3]!, name: m[4]! } : undefined;
}

/** `arn:<partition>:s3:::<bucket>`: the bucket, or undefined if `to` is none. */
export function parseBucketArn(to: string): string | undefined {
  return /^arn:aws[a-z-]*:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$/.exec(to)?.[1];
}

/** AWS's DNS suffix of an ARN partition. */
const dnsSuffix = (partition: string) =>
  partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';

/** The queue's URL, as SendMessage wants it. */
export function queueUrl(queue: QueueArn, endpoint?: string): string {
  const base = endpoint ?? `https://sqs.${queue.region}.${dnsSuffix(queue.partition)}`;
  return `${base.replace(/\/+$/, '')}/${queue.account}/${queue.name}`;
}

/** Where a dead letter is stored in its bucket: `<group>/<topic>/<partition>/<offset>.json`. */
export function deadLetterObjectKey(message: OutboxMessage): string {
  const facts = message.deadLetter;
  // Without facts (not a dead letter), the origin's own coordinates and index.
  const parts = facts
    ? [facts.group, facts.topic, String(facts.partition), `${facts.offset}.json`]
    : [
        ...message.origin.split('|').slice(0, 3),
        `${message.origin.split('|').slice(3).join('-')}.json`,
      ];
  return parts.map(encodeURIComponent).join('/');
}

/** The relay to SQS queues and S3 buckets named by ARN. */
export function awsRelay(options: AwsRelayOptions = {}): OutboxRelay {
  const endpoint = (options.endpoint ?? process.env.DOGEAR_AWS_ENDPOINT)?.replace(/\/+$/, '');
  const credentials = options.credentials ?? environmentCredentials;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxSqsBytes = options.sqsMaxMessageBytes ?? SQS_DEFAULT_MAX_MESSAGE_BYTES;

  async function toQueue(message: OutboxMessage, queue: QueueArn) {
    const body = JSON.stringify(deadLetterDocument(message));
    const bytes = Buffer.byteLength(body);
    if (bytes > maxSqsBytes) {
      throw new OutputDeliveryError(
        `the dead letter of ${message.origin} is ${bytes} bytes as JSON, over the ${maxSqsBytes} bytes SQS takes in a message to ${message.to}; send dead letters to an S3 bucket or a Kafka topic, or raise the queue's MaximumMessageSize (up to 1 MiB) and the relay's sqsMaxMessageBytes`,
        message.origin,
        message.to,
      );
    }
    const fifo = queue.name.endsWith('.fifo')
      ? {
          // One group per source partition keeps its dead letters in order; the origin's hash
          // (the id may hold 128 characters) lets SQS drop a repeated relay's copy.
          MessageGroupId: sha256(message.origin.split('|').slice(0, 3).join('|')),
          MessageDeduplicationId: sha256(message.origin),
        }
      : {};
    const response = await send(message, () =>
      awsJsonCall(
        {
          service: 'sqs',
          region: queue.region,
          endpoint: endpoint ?? `https://sqs.${queue.region}.${dnsSuffix(queue.partition)}`,
          target: 'AmazonSQS.SendMessage',
          version: '1.0',
        },
        { QueueUrl: queueUrl(queue, endpoint), MessageBody: body, ...fifo },
        credentials,
        { timeoutMs },
      ),
    );
    if (!response.ok) throw await refused(message, response, 'sqs:SendMessage on the queue');
  }

  async function toBucket(message: OutboxMessage, bucket: string) {
    const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (!region) {
      throw new OutputConfigError(
        `dead letters to ${message.to} need the bucket's region: set AWS_REGION (Lambda sets it)`,
      );
    }
    const key = deadLetterObjectKey(message);
    const url = endpoint
      ? `${endpoint}/${bucket}/${key}`
      : `https://${bucket}.s3.${region}.amazonaws.com/${key}`;
    const response = await send(message, async () => {
      const client = new AwsClient({ ...(await credentials()), service: 's3', region, retries: 0 });
      const request = await client.sign(url, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(deadLetterDocument(message)),
      });
      return fetch(request, { signal: AbortSignal.timeout(timeoutMs) });
    });
    if (!response.ok) throw await refused(message, response, 's3:PutObject on the bucket');
  }

  return {
    async send(messages) {
      for (const message of messages) {
        const queue = parseQueueArn(message.to);
        if (queue) {
          await toQueue(message, queue);
          continue;
        }
        const bucket = parseBucketArn(message.to);
        if (bucket) {
          await toBucket(message, bucket);
          continue;
        }
        throw new OutputConfigError(
          `${message.origin} is addressed to '${message.to}', neither an SQS queue ARN (arn:aws:sqs:<region>:<account>:<queue>) nor an S3 bucket ARN (arn:aws:s3:::<bucket>)`,
        );
      }
    },
    async close() {},
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** One request; one that could not be made at all says where it was going. */
async function send(message: OutboxMessage, request: () => Promise<Response>): Promise<Response> {
  try {
    return await request();
  } catch (error) {
    const why =
      (error as Error).name === 'TimeoutError' ? 'no answer in time' : (error as Error).message;
    throw new OutputDeliveryError(
      `could not deliver the dead letter of ${message.origin} to ${message.to} (${why}); it stays in the outbox and the retried invocation sends it again`,
      message.origin,
      message.to,
      { cause: error },
    );
  }
}

/** What AWS answered instead of accepting the dead letter, and what to change. */
async function refused(
  message: OutboxMessage,
  response: Response,
  permission: string,
): Promise<OutputDeliveryError> {
  const code = await awsErrorCode(response);
  const fix =
    response.status === 403
      ? `grant the function ${permission} (the plugin does for the consumer's deadLetter.to)`
      : /NonExistentQueue|QueueDoesNotExist|NoSuchBucket/.test(code)
        ? "create it, or fix the consumer's deadLetter.to"
        : 'it stays in the outbox and the retried invocation sends it again';
  return new OutputDeliveryError(
    `${message.to} refused the dead letter of ${message.origin} (${response.status}${code ? ` ${code}` : ''}); ${fix}`,
    message.origin,
    message.to,
  );
}
