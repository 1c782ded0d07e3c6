export {
  type AwsRelayOptions,
  awsRelay,
  DEAD_LETTER_HEADER,
  type DeadLetterDocument,
  deadLetterDocument,
  deadLetterObjectKey,
  parseBucketArn,
  parseQueueArn,
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
  ORIGIN_HEADER,
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
