export {
  connectionProblem,
  type KafkaConnectionOptions,
  type KafkaSaslOptions,
  kafkaClientOptions,
} from './connection.ts';
export { OutputConfigError, OutputDeliveryError, OutputError } from './errors.ts';
export type { OutboxRelay } from './types.ts';
