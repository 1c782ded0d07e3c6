export {
  CONSUMER,
  CONSUMER_GROUP_PATTERN,
  consumer,
  consumerOf,
  DEPLOY_OPTIONS,
  defineConsumer,
  kebabCase,
  onBatch,
  onRecord,
} from './consumer.ts';
export { STATE_TABLE } from './context.ts';
export {
  BatchFailedError,
  ConsumerDefinitionError,
  ConsumerError,
  EmitError,
  OnceInBatchError,
  OnceInProgressError,
  OnceInterruptedError,
  OutputsUndeliveredError,
  RecordFailedError,
  TopicRecreatedError,
} from './errors.ts';
export {
  createHandler,
  type HandlerOptions,
  type InvocationReport,
  type KafkaHandler,
} from './handler.ts';
export { lambdaContext } from './lambda-context.ts';
export { createLogger, type Logger, type LogLevel, type LogSink } from './logger.ts';
export { METRICS_NAMESPACE, metricsLine } from './metrics.ts';
export {
  failedRecords,
  formatAnswered,
  lambdaRetryLimit,
  type ReplayAttempt,
  type ReplayEnd,
  replayEvent,
  replayRetryLimit,
  resumeOffsets,
  retryEventOf,
} from './partial-batch.ts';
export type { SliceReport } from './slice.ts';
export type {
  BatchHandler,
  ConsumerDefinition,
  ConsumerOptions,
  Context,
  DeadLetterOptions,
  DeployOptions,
  EmitOptions,
  KafkaBatchResponse,
  KeyedState,
  OnceOptions,
  Reads,
  RecordHandler,
  SchemaRegistryDeployOptions,
  Table,
} from './types.ts';
