/** dogear: Kafka consumers on AWS Lambda with exactly-once state. */
export { DogearError, type RecordCoordinates } from './errors.ts';
export {
  EventFormatError,
  type Format,
  type KafkaEvent,
  type KafkaRecord,
  type PartitionSlice,
  RecordDecodeError,
  stateKeyOf,
  type TimestampType,
} from './event/index.ts';
export {
  BatchFailedError,
  type BatchHandler,
  type ConsumerDefinition,
  ConsumerDefinitionError,
  type ConsumerOptions,
  type Context,
  consumer,
  createHandler,
  defineConsumer,
  type HandlerOptions,
  type InvocationReport,
  type KafkaHandler,
  type KeyedState,
  type Logger,
  onBatch,
  onRecord,
  RecordFailedError,
  type RecordHandler,
  type Table,
  TopicRecreatedError,
} from './runtime/index.ts';
export {
  FileStateStore,
  MemoryStateStore,
  StateConflictError,
  StateError,
  StateLimitError,
  type StateStore,
  StateTypeError,
} from './state/index.ts';
