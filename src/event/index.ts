export { decodeRecord, parseEvent, slicesOf, validateValue } from './decode.ts';
export {
  type EventSourceOptions,
  eventOf,
  eventRecordOf,
  eventsOf,
  type NdjsonRecord,
} from './encode.ts';
export { EventFormatError, RecordDecodeError } from './errors.ts';
export { stateKeyOf } from './key.ts';
export type {
  DecodeOptions,
  EventRecord,
  Format,
  KafkaEvent,
  KafkaRecord,
  PartitionSlice,
  RawHeader,
  TimestampType,
} from './types.ts';
