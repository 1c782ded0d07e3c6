import { EventFormatError, RecordTooLargeError } from './errors.ts';
import { EVENT_RECORD_BYTES, eventRecordBytes, nextBatchLength } from './payload.ts';
import { TIMESTAMP_TYPES, timestampProblem } from './timestamp.ts';
import type { EventRecord, KafkaEvent, TimestampType } from './types.ts';

/**
 * One line of a recorded-events file. Strings are UTF-8 text; `keyBase64`/`valueBase64` carry
 * bytes that are not text. A `value` that is not a string is written as its JSON.
 *
 * Headers are either `headers`, text values by unique name, or `headersBase64`, every header
 * as it was on the wire: in order, names repeating, values as base64 (null for a null value).
 */
export interface NdjsonRecord {
  topic: string;
  partition: number;
  offset: number;
  /** Milliseconds since the epoch, an integer (negative as brokers store it). Absent: -1, with `timestampType` `NO_TIMESTAMP_TYPE`. */
  timestamp?: number;
  /** @default 'CREATE_TIME' when there is a timestamp */
  timestampType?: TimestampType;
  key?: string | null;
  keyBase64?: string | null;
  value?: unknown;
  valueBase64?: string | null;
  /**
   * The writer schema `key`/`value` is written with, for a consumer that decodes it through a
   * schema (`dogear events`/`produce --consumer` and `dogear invoke` encode it): Confluent's
   * integer id or Glue's schema version UUID. Only read by those tools.
   */
  keySchemaId?: number | string;
  valueSchemaId?: number | string;
  headers?: Record<string, string>;
  headersBase64?: Array<[name: string, base64: string | null]>;
}

/**
 * Turns one NDJSON line (already parsed) into the record Lambda would deliver. A tombstone
 * leaves `value` out and a record without a key leaves `key` out, as Lambda's events do.
 */
export function eventRecordOf(line: unknown, where: string): EventRecord {
  if (typeof line !== 'object' || line === null || Array.isArray(line)) {
    throw new EventFormatError(`${where} is not a JSON object`);
  }
  const r = line as Record<string, unknown>;
  if (typeof r.topic !== 'string' || r.topic === '') {
    throw new EventFormatError(`${where} has no "topic"`);
  }
  for (const field of ['partition', 'offset'] as const) {
    const value = r[field];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new EventFormatError(
        `${where} (topic ${r.topic}) has ${value === undefined ? 'no' : `an invalid ${JSON.stringify(value)} as`} "${field}"; add a non-negative integer "${field}"`,
      );
    }
  }
  const key = field64(r, 'key', where);
  const value = field64(r, 'value', where);
  return {
    topic: r.topic,
    partition: r.partition as number,
    offset: r.offset as number,
    ...timestampOf(r, `${where} (topic ${r.topic})`),
    ...(key === null ? {} : { key }),
    ...(value === null ? {} : { value }),
    headers: headersOf(r, where),
  };
}

/**
 * A line's timestamp and its type. Without a timestamp the record is one Kafka stored without
 * one (-1, `NO_TIMESTAMP_TYPE`); with one, the type defaults to `CREATE_TIME`, the producer's.
 */
function timestampOf(
  r: Record<string, unknown>,
  where: string,
): Pick<EventRecord, 'timestamp' | 'timestampType'> {
  const type = r.timestampType ?? undefined;
  if (type !== undefined && !TIMESTAMP_TYPES.has(type as TimestampType)) {
    throw new EventFormatError(
      `${where} has "timestampType" ${JSON.stringify(type)}; write CREATE_TIME, LOG_APPEND_TIME or NO_TIMESTAMP_TYPE, or leave it out (CREATE_TIME)`,
    );
  }
  if (r.timestamp === undefined || r.timestamp === null) {
    if (type === undefined || type === 'NO_TIMESTAMP_TYPE') {
      return { timestamp: -1, timestampType: 'NO_TIMESTAMP_TYPE' };
    }
    throw new EventFormatError(
      `${where} has timestampType ${type} but no "timestamp"; add "timestamp" in milliseconds since the epoch, or leave both out (a record without a timestamp)`,
    );
  }
  const timestampType = (type ?? 'CREATE_TIME') as TimestampType;
  const problem = timestampProblem(r.timestamp, timestampType, '"timestamp"');
  if (problem) throw new EventFormatError(`${where} has ${problem}`);
  return { timestamp: r.timestamp as number, timestampType };
}

/** Lambda's header list: one single-entry object per header, in order, names may repeat. */
function headersOf(r: Record<string, unknown>, where: string): Array<Record<string, number[]>> {
  if (r.headersBase64 !== undefined && r.headersBase64 !== null) {
    if (r.headers !== undefined && r.headers !== null) {
      throw new EventFormatError(
        `${where} has both "headers" and "headersBase64"; keep one (headersBase64 holds every header)`,
      );
    }
    return headersFromBase64(r.headersBase64, where);
  }
  const headers = r.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new EventFormatError(`${where}: "headers" must be an object of strings`);
  }
  return Object.entries(headers).map(([name, text]) => ({
    [name]: javaBytes(Buffer.from(String(text), 'utf8')),
  }));
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function headersFromBase64(list: unknown, where: string): Array<Record<string, number[]>> {
  const shape = `"headersBase64" must be an array of [name, base64 or null] pairs`;
  if (!Array.isArray(list)) throw new EventFormatError(`${where}: ${shape}`);
  return list.map((entry: unknown, index) => {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') {
      throw new EventFormatError(`${where}: ${shape}; entry ${index} is not`);
    }
    const [name, b64] = entry as [string, unknown];
    // Lambda has no null header value to show; its bytes are empty, like a zero-length value.
    if (b64 === null) return { [name]: [] };
    if (typeof b64 !== 'string' || !BASE64.test(b64)) {
      throw new EventFormatError(
        `${where}: header ${JSON.stringify(name)} (headersBase64 entry ${index}) is not valid base64`,
      );
    }
    return { [name]: javaBytes(Buffer.from(b64, 'base64')) };
  });
}

function field64(r: Record<string, unknown>, field: 'key' | 'value', where: string) {
  const b64 = r[`${field}Base64`];
  if (b64 !== undefined && b64 !== null) {
    if (typeof b64 !== 'string')
      throw new EventFormatError(`${where}: "${field}Base64" must be a string`);
    return b64;
  }
  const text = r[field];
  if (text === undefined || text === null) return null;
  const utf8 = typeof text === 'string' ? text : JSON.stringify(text);
  return Buffer.from(utf8, 'utf8').toString('base64');
}

/** Java's `byte` is signed, and Lambda's JSON keeps it so. */
function javaBytes(bytes: Uint8Array): number[] {
  return Array.from(bytes, (b) => (b > 127 ? b - 256 : b));
}

/** What the event Lambda builds should say about where it came from. */
export interface EventSourceOptions {
  /** @default 'aws:kafka' */
  eventSource?: 'aws:kafka' | 'SelfManagedKafka';
  /** The MSK cluster's ARN, for `aws:kafka` events. */
  eventSourceArn?: string;
  /** @default '127.0.0.1:9092' */
  bootstrapServers?: string;
}

/**
 * Cuts records into events of at most `batchSize` records and 6 MB, in the order given, the way
 * an event-source mapping would hand them to one function. A record over 6 MB by itself is a
 * `RecordTooLargeError`: no event Lambda delivers could carry it.
 */
export function eventsOf(
  records: readonly EventRecord[],
  batchSize: number,
  source: EventSourceOptions = {},
): KafkaEvent[] {
  const events: KafkaEvent[] = [];
  for (let start = 0; start < records.length; ) {
    const length = nextBatchLength(records, batchSize, eventRecordBytes, start);
    if (length === 1) {
      const bytes = eventRecordBytes(records[start]!);
      if (bytes > EVENT_RECORD_BYTES)
        throw new RecordTooLargeError(records[start]!, bytes, EVENT_RECORD_BYTES);
    }
    events.push(eventOf(records.slice(start, start + length), source));
    start += length;
  }
  return events;
}

/** Wraps records into one event, keyed `<topic>-<partition>` as Lambda does. */
export function eventOf(
  records: readonly EventRecord[],
  source: EventSourceOptions = {},
): KafkaEvent {
  const grouped: Record<string, EventRecord[]> = {};
  for (const record of records) {
    const id = `${record.topic}-${record.partition}`;
    grouped[id] ??= [];
    grouped[id].push(record);
  }
  const bootstrapServers = source.bootstrapServers ?? '127.0.0.1:9092';
  if (source.eventSource === 'SelfManagedKafka') {
    return { eventSource: 'SelfManagedKafka', bootstrapServers, records: grouped };
  }
  return {
    eventSource: 'aws:kafka',
    eventSourceArn:
      source.eventSourceArn ??
      'arn:aws:kafka:us-east-1:123456789012:cluster/local/00000000-0000-0000-0000-000000000000-1',
    bootstrapServers,
    records: grouped,
  };
}
