/**
 * The relay the runtime calls: it sends each outbox message by its `to`, a Kafka topic or an SQS
 * queue or S3 bucket ARN, to the route configured for it, and connects only when a message needs it.
 */
import type { OutboxMessage } from '../state/index.ts';
import { type AwsRelayOptions, awsRelay, parseBucketArn, parseQueueArn } from './aws.ts';
import { OutputConfigError } from './errors.ts';
import { kafkaRelayFromEnvironment } from './kafka.ts';
import type { OutboxRelay } from './types.ts';

export interface OutboxRelayOptions {
  /**
   * Where messages to topics go: a relay, or a function that makes one on the first such message
   * (so a consumer that never emits never connects). @default none: a message to a topic fails
   */
  kafka?: OutboxRelay | (() => OutboxRelay);
  /** Dead letters to SQS queues and S3 buckets. @default none: a message to an ARN fails */
  aws?: AwsRelayOptions;
}

/** The kind of destination `to` names. */
export type Destination = 'kafka' | 'sqs' | 's3';

/** What `to` names: an SQS queue ARN, an S3 bucket ARN, otherwise a Kafka topic. */
export function destinationOf(message: OutboxMessage): Destination {
  const { to } = message;
  if (!to.startsWith('arn:')) return 'kafka';
  if (parseQueueArn(to)) return 'sqs';
  if (parseBucketArn(to)) return 's3';
  throw new OutputConfigError(
    `${message.origin} is addressed to '${to}', which is neither an SQS queue ARN (arn:aws:sqs:<region>:<account>:<queue>) nor an S3 bucket ARN (arn:aws:s3:::<bucket>); fix the consumer's deadLetter.to`,
  );
}

/** Routes each message to Kafka or AWS; the messages of one route go in one `send`, in order. */
export function outboxRelay(options: OutboxRelayOptions): OutboxRelay {
  let kafka: OutboxRelay | undefined;
  let aws: OutboxRelay | undefined;
  const kafkaRoute = () => {
    kafka ??= typeof options.kafka === 'function' ? options.kafka() : options.kafka;
    return kafka!;
  };
  const awsRoute = () => {
    aws ??= awsRelay(options.aws);
    return aws;
  };

  return {
    async send(messages) {
      const toKafka: OutboxMessage[] = [];
      const toAws: OutboxMessage[] = [];
      // Every message is checked before any is sent: a commit's outbox goes whole or not yet.
      for (const message of messages) {
        const destination = destinationOf(message);
        if (destination === 'kafka') {
          if (!options.kafka) throw noRoute(message, 'a Kafka topic', 'kafka');
          toKafka.push(message);
        } else {
          if (!options.aws) throw noRoute(message, `an ${destination.toUpperCase()} ARN`, 'aws');
          toAws.push(message);
        }
      }
      if (toKafka.length > 0) await kafkaRoute().send(toKafka);
      if (toAws.length > 0) await awsRoute().send(toAws);
    },
    async close() {
      await Promise.all([kafka?.close(), aws?.close()]);
    },
  };
}

function noRoute(message: OutboxMessage, what: string, option: keyof OutboxRelayOptions) {
  return new OutputConfigError(
    `${message.origin} is addressed to '${message.to}', ${what}, but the relay has no route for it; pass outboxRelay({ ${option} })`,
  );
}

/**
 * The relay of a Lambda function (`HandlerOptions.relay`): to the event's cluster, authenticated
 * as the plugin configured the function (`DOGEAR_KAFKA_AUTH`, see `kafkaRelayFromEnvironment`),
 * and to SQS and S3 with the function's role (`DOGEAR_AWS_ENDPOINT` overrides AWS's endpoints).
 * Nothing connects until a message needs it.
 */
export function environmentRelay(
  source: { readonly bootstrapServers?: string },
  env: NodeJS.ProcessEnv = process.env,
): OutboxRelay {
  const { bootstrapServers } = source;
  return outboxRelay({
    ...(bootstrapServers ? { kafka: () => kafkaRelayFromEnvironment(bootstrapServers, env) } : {}),
    aws: env.DOGEAR_AWS_ENDPOINT ? { endpoint: env.DOGEAR_AWS_ENDPOINT } : {},
  });
}
