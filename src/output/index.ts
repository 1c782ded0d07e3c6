export {
  type AwsRelayOptions,
  awsRelay,
  type DeadLetterDocument,
  deadLetterDocument,
  deadLetterObjectKey,
  parseBucketArn,
  parseQueueArn,
  type QueueArn,
  queueUrl,
  SQS_DEFAULT_MAX_MESSAGE_BYTES,
} from './aws.ts';
export {
  connectionProblem,
  type KafkaConnectionOptions,
  type KafkaSaslOptions,
  kafkaClientOptions,
} from './connection.ts';
export { OutputConfigError, OutputDeliveryError, OutputError } from './errors.ts';
export {
  connectionFromEnvironment,
  headersSent,
  type KafkaRelayOptions,
  kafkaRelay,
  kafkaRelayFromEnvironment,
} from './kafka.ts';
export { murmur2, partitionOf, partitionOfMessage, toPositive } from './partitioner.ts';
export {
  type Destination,
  destinationOf,
  environmentRelay,
  type OutboxRelayOptions,
  outboxRelay,
} from './relay.ts';
export type { OutboxRelay } from './types.ts';
