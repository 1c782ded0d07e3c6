import { EventFormatError } from './errors.ts';
import type { EventRecord, KafkaEvent, TimestampType } from './types.ts';

/**
 * One line of a recorded-events file. Strings are UTF-8 text; `keyBase64`/`valueBase64` carry
 * bytes that are not text. A `value` that is not a string is written as its JSON.
 */
export interface NdjsonRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp?: number;
  timestampType?: TimestampType;
  key?: string | null;
  keyBase64?: string | null;
  value?: unknown;
  valueBase64?: string | null;
  headers?: Record<string, string>;
}

/** Turns one NDJSON line (already parsed) into the record Lambda would deliver. */
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
  const headers = r.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new EventFormatError(`${where}: "headers" must be an object of strings`);
  }
  return {
    topic: r.topic,
    partition: r.partition as number,
    offset: r.offset as number,
    timestamp: typeof r.timestamp === 'number' ? r.timestamp : 0,
    timestampType: r.timestampType === 'LOG_APPEND_TIME' ? 'LOG_APPEND_TIME' : 'CREATE_TIME',
    key: field64(r, 'key', where),
    value: field64(r, 'value', where),
    headers: Object.entries(headers).map(([name, text]) => ({
      [name]: javaBytes(Buffer.from(String(text), 'utf8')),
    })),
  };
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
 * Cuts records into events of at most `batchSize` records, in the order given, the way an
 * event-source mapping would hand them to one function.
 */
export function eventsOf(
  records: readonly EventRecord[],
  batchSize: number,
  source: EventSourceOptions = {},
): KafkaEvent[] {
  const events: KafkaEvent[] = [];
  for (let start = 0; start < records.length; start += batchSize) {
    events.push(eventOf(records.slice(start, start + batchSize), source));
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
