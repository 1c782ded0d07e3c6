import type { RecordCoordinates } from '../errors.ts';
import { EventFormatError, RecordDecodeError } from './errors.ts';
import { deliveredTimestampProblem } from './timestamp.ts';
import type {
  DecodeOptions,
  EventRecord,
  FieldFormat,
  KafkaEvent,
  KafkaRecord,
  PartitionSlice,
  RawHeader,
} from './types.ts';

const UTF8 = new TextDecoder();
/**
 * Keys and values decode strictly: bytes that are not UTF-8 throw instead of turning into
 * U+FFFD, which would make distinct keys one (`ff01` and `fe01` both read "\ufffd\u0001").
 * A byte-order mark is kept, for the same reason. One instance serves every record.
 */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const EVENT_SOURCES = new Set(['aws:kafka', 'SelfManagedKafka']);

/**
 * Checks that `input` is an event as Lambda's Kafka trigger delivers it and returns it typed.
 * `where` names the input in errors (a file, say).
 */
export function parseEvent(input: unknown, where = 'event'): KafkaEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new EventFormatError(
      `${where} is not an object; an MSK event has 'records' by partition`,
    );
  }
  const event = input as Record<string, unknown>;
  if (!EVENT_SOURCES.has(event.eventSource as string)) {
    throw new EventFormatError(
      `${where} has eventSource ${JSON.stringify(event.eventSource)}; expected "aws:kafka" (MSK) or "SelfManagedKafka"`,
    );
  }
  const records = event.records;
  if (typeof records !== 'object' || records === null || Array.isArray(records)) {
    throw new EventFormatError(`${where} has no 'records' object keyed "<topic>-<partition>"`);
  }
  for (const [group, list] of Object.entries(records)) {
    if (!Array.isArray(list)) {
      throw new EventFormatError(`${where}: records["${group}"] is not an array`);
    }
    for (const [index, record] of list.entries()) {
      checkEventRecord(record, `${where}: records["${group}"][${index}]`);
    }
  }
  return input as KafkaEvent;
}

function checkEventRecord(record: unknown, where: string): void {
  if (typeof record !== 'object' || record === null) {
    throw new EventFormatError(`${where} is not an object`);
  }
  const r = record as Record<string, unknown>;
  if (typeof r.topic !== 'string' || r.topic === '') {
    throw new EventFormatError(`${where} has no topic`);
  }
  for (const field of ['partition', 'offset'] as const) {
    const value = r[field];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new EventFormatError(
        `${where} (topic ${r.topic}) has ${value === undefined ? 'no' : `an invalid ${JSON.stringify(value)} as`} ${field}; every record needs a non-negative integer ${field}`,
      );
    }
  }
  // Any type name and any integer time pass: they are what the broker stored (see
  // `deliveredTimestampProblem`). Only a shape Lambda cannot send is an error.
  if (typeof r.timestampType !== 'string') {
    throw new EventFormatError(
      `${where} has ${r.timestampType === undefined ? 'no timestampType' : `timestampType ${JSON.stringify(r.timestampType)}`}; Lambda sends CREATE_TIME, LOG_APPEND_TIME or NO_TIMESTAMP_TYPE`,
    );
  }
  if (r.timestamp === undefined) {
    throw new EventFormatError(
      `${where} has no timestamp; Lambda sends one with every record (-1 when there is none)`,
    );
  }
  const problem = deliveredTimestampProblem(r.timestamp);
  if (problem) throw new EventFormatError(`${where} has ${problem}`);
  for (const field of ['key', 'value'] as const) {
    const value = r[field];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      throw new EventFormatError(`${where}: ${field} must be a base64 string, null or absent`);
    }
  }
  if (r.headers !== undefined && !Array.isArray(r.headers)) {
    throw new EventFormatError(`${where}: headers must be an array of { name: [bytes] }`);
  }
}

/** Groups an event's records by partition, each slice sorted by offset. */
export function slicesOf(event: KafkaEvent): PartitionSlice[] {
  const byPartition = new Map<
    string,
    { topic: string; partition: number; records: EventRecord[] }
  >();
  for (const list of Object.values(event.records)) {
    for (const record of list) {
      const id = `${record.topic}\u0000${record.partition}`;
      let slice = byPartition.get(id);
      if (!slice) {
        slice = { topic: record.topic, partition: record.partition, records: [] };
        byPartition.set(id, slice);
      }
      slice.records.push(record);
    }
  }
  const slices = [...byPartition.values()];
  for (const slice of slices) slice.records.sort((a, b) => a.offset - b.offset);
  return slices;
}

/** Decodes one record's key, value and headers; throws `RecordDecodeError` naming the record. */
export function decodeRecord<V = unknown, K = string>(
  raw: EventRecord,
  options: DecodeOptions = {},
): KafkaRecord<V, K> {
  const rawHeaders = decodeHeaders(raw);
  const headers: Record<string, string> = {};
  for (const header of rawHeaders) headers[header.name] = UTF8.decode(header.value);
  return {
    topic: raw.topic,
    partition: raw.partition,
    offset: raw.offset,
    timestamp: raw.timestamp,
    timestampType: raw.timestampType,
    key: decodeField(raw.key, options.key ?? 'string', raw, 'key') as K | null,
    value: decodeField(raw.value, options.value ?? 'json', raw, 'value') as V | null,
    headers,
    rawHeaders,
  };
}

/** A field decoded through a schema is left as bytes here, for `decodeSchemaFields`. */
function decodeField(
  encoded: string | null | undefined,
  format: FieldFormat,
  at: RecordCoordinates,
  field: 'key' | 'value',
): unknown {
  if (encoded === undefined || encoded === null) return null;
  const bytes = base64Bytes(encoded, at, field);
  if (format === 'bytes' || typeof format === 'object') {
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }
  let text: string;
  try {
    text = STRICT_UTF8.decode(bytes);
  } catch (error) {
    throw new RecordDecodeError(at, notUtf8(bytes, field), { cause: error });
  }
  if (format === 'string') return text;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RecordDecodeError(
      at,
      `${field} is not JSON (${(error as Error).message}); declare ${field}: 'string' or 'bytes' on the consumer if the topic carries other data`,
      { cause: error },
    );
  }
}

const SHOWN_BYTES = 16;

/** The problem of a key or value that is not UTF-8: where, its first bytes, and the fix. */
function notUtf8(bytes: Uint8Array, field: 'key' | 'value'): string {
  const shown = [...bytes.subarray(0, SHOWN_BYTES)]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(' ');
  const more = bytes.length > SHOWN_BYTES ? ' …' : '';
  const invalid = firstInvalidByte(bytes);
  const where = invalid === bytes.length ? 'it ends inside a character' : `at byte ${invalid}`;
  const fix =
    field === 'key'
      ? "declare key: 'bytes' on the consumer if its keys are binary (ctx.state then keys each item by the bytes' base64)"
      : "declare value: 'bytes' on the consumer if the topic carries binary data";
  return `${field} is not UTF-8 (${where}; ${bytes.length} bytes: ${shown}${more}); ${fix}`;
}

/**
 * Where the first invalid UTF-8 sequence starts being invalid, or `bytes.length` if the
 * bytes end inside a character. Only runs once a record has failed, so it may be slow.
 */
function firstInvalidByte(bytes: Uint8Array): number {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  for (let i = 0; i < bytes.length; i++) {
    try {
      decoder.decode(bytes.subarray(i, i + 1), { stream: true });
    } catch {
      return i;
    }
  }
  return bytes.length;
}

/** Node's base64 decoder skips characters it does not know, so a short result means bad input. */
function base64Bytes(encoded: string, at: RecordCoordinates, field: 'key' | 'value'): Buffer {
  const bytes = Buffer.from(encoded, 'base64');
  const padding = encoded.endsWith('==') ? 2 : encoded.endsWith('=') ? 1 : 0;
  const expected = Math.floor((encoded.length * 3) / 4) - padding;
  if (encoded.length % 4 === 1 || bytes.length !== expected) {
    throw new RecordDecodeError(
      at,
      `${field} is not valid base64 (${encoded.length} characters, ${JSON.stringify(encoded.slice(0, 16))}…); Lambda delivers keys and values base64-encoded`,
    );
  }
  return bytes;
}

/** Lambda serializes Java's signed bytes, so -1 means 0xff. One pass checks and converts. */
function headerBytes(raw: EventRecord, name: string, bytes: unknown): Uint8Array {
  if (!Array.isArray(bytes))
    throw new RecordDecodeError(raw, `header '${name}' is not an array of bytes`);
  const value = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (!Number.isInteger(b) || b < -128 || b > 255) {
      throw new RecordDecodeError(raw, `header '${name}' is not an array of bytes`);
    }
    value[i] = b & 0xff;
  }
  return value;
}

function decodeHeaders(raw: EventRecord): RawHeader[] {
  const headers: RawHeader[] = [];
  const list: unknown = raw.headers ?? [];
  if (!Array.isArray(list)) {
    throw new RecordDecodeError(raw, 'headers must be an array of { name: [bytes] }');
  }
  for (const entry of list) {
    // Object.entries(null) would throw a bare TypeError that names no record.
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new RecordDecodeError(
        raw,
        `header ${JSON.stringify(entry) ?? String(entry)} is not an object of { name: [bytes] }`,
      );
    }
    for (const name in entry) {
      headers.push({
        name,
        value: headerBytes(raw, name, (entry as Record<string, unknown>)[name]),
      });
    }
  }
  return headers;
}

/** Whether a consumer's key or value decodes through a schema (and so asynchronously). */
export function decodesThroughSchema(options: DecodeOptions): boolean {
  return typeof options.value === 'object' || typeof options.key === 'object';
}

/**
 * The key and value of `record` (as `decodeRecord` left them: bytes) decoded through their
 * schema codecs; a failure is a `RecordDecodeError` naming the record, the field and the schema.
 */
export async function decodeSchemaFields<V, K>(
  record: KafkaRecord<unknown, unknown>,
  raw: EventRecord,
  options: DecodeOptions,
): Promise<KafkaRecord<V, K>> {
  let out = record;
  for (const field of ['key', 'value'] as const) {
    const codec = options[field];
    const bytes = out[field];
    if (typeof codec !== 'object' || !(bytes instanceof Uint8Array)) continue;
    const metadata = field === 'value' ? raw.valueSchemaMetadata : raw.keySchemaMetadata;
    try {
      const decoded = await codec.decode(bytes, metadata ? { metadata } : {});
      out = { ...out, [field]: decoded.value, [`${field}Schema`]: decoded.schema };
    } catch (error) {
      // The cause keeps whether a retry can help (`SchemaDecodeError.failure`).
      const message = error instanceof Error ? error.message : String(error);
      throw new RecordDecodeError(raw, `${field} (${codec.format}): ${message}`, { cause: error });
    }
  }
  return out as KafkaRecord<V, K>;
}

/** Runs a Standard Schema over a decoded value; the error lists each issue with its path. */
export async function validateValue<V>(
  record: KafkaRecord<unknown, unknown>,
  schema: NonNullable<DecodeOptions['schema']>,
): Promise<V> {
  let result = schema['~standard'].validate(record.value);
  if (result instanceof Promise) result = await result;
  if (result.issues) {
    const issues = result.issues
      .map((issue) => {
        const path = issue.path
          ?.map((p) => (typeof p === 'object' ? String(p.key) : String(p)))
          .join('.');
        return path ? `${path}: ${issue.message}` : issue.message;
      })
      .join('; ');
    throw new RecordDecodeError(record, `value does not match the consumer's schema: ${issues}`);
  }
  return result.value as V;
}
