export {
  connectionProblem,
  type KafkaConnectionOptions,
  type KafkaSaslOptions,
  kafkaClientOptions,
} from '../output/index.ts';
export {
  type DeadLetterEntry,
  type DeadLettersJsonResult,
  type DeadLettersOptions,
  deadLetterLine,
  deadLetters,
  REDRIVEN_HEADER,
  replayGroupOf,
} from './dead-letters.ts';
export { type DevOptions, dev, eventRecordOfMessage } from './dev.ts';
export { encodingOf, type RecordEncoding, schemaIdOf } from './encoding.ts';
export { InvokeFailedError, LocalInputError } from './errors.ts';
export { type EventsFile, eventsFor, readEventsFile } from './events-file.ts';
export {
  type InvokeFailure,
  type InvokeLocalOptions,
  type InvokeLocalResult,
  type InvokeResponse,
  type InvokeSummary,
  invokeLocal,
  openStore,
  type PartitionOffsets,
  readOffsets,
  readTable,
  type StateOffsetsJsonResult,
  type StoreLocation,
} from './invoke.ts';
export { type NdjsonFileRelayOptions, ndjsonFileRelay } from './outputs-file.ts';
export { type ProduceOptions, produceRecords } from './produce.ts';
export {
  ndjsonRecordOf,
  type RecordedPartition,
  type RecordFrom,
  type RecordStop,
  type RecordTopicOptions,
  type RecordTopicResult,
  recordTopic,
  type WireRecord,
} from './record.ts';
