export {
  decodeRecord,
  decodeSchemaFields,
  decodesThroughSchema,
  parseEvent,
  slicesOf,
  validateValue,
} from './decode.ts';
export {
  type EventSourceOptions,
  eventOf,
  eventRecordOf,
  eventsOf,
  type NdjsonRecord,
} from './encode.ts';
export { EventFormatError, RecordDecodeError, RecordTooLargeError } from './errors.ts';
export { stateKeyOf } from './key.ts';
export {
  EVENT_RECORD_BYTES,
  eventRecordBytes,
  MAX_EVENT_BYTES,
  nextBatchLength,
} from './payload.ts';
export type {
  DecodeOptions,
  EventRecord,
  FieldFormat,
  Format,
  KafkaEvent,
  KafkaRecord,
  PartitionSlice,
  RawHeader,
  SchemaCodec,
  SchemaDecoded,
  SchemaMetadata,
  SchemaRef,
  SchemaSource,
  TimestampType,
} from './types.ts';
