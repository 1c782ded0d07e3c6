import type { StandardSchemaV1 } from '@standard-schema/spec';

/**
 * How Kafka stamped the record's timestamp: the producer's clock (`CREATE_TIME`), the broker's
 * (`LOG_APPEND_TIME`), or none at all (`NO_TIMESTAMP_TYPE`, timestamp -1: Kafka's old v0
 * message format). A record sent without a time in today's format is `CREATE_TIME` with -1, as
 * Java's client (and so Lambda) reports it. Lambda's events are taken as they come: a type name
 * outside these three would reach the handler unchanged.
 */
export type TimestampType = 'CREATE_TIME' | 'LOG_APPEND_TIME' | 'NO_TIMESTAMP_TYPE';

/**
 * How a record's key or value bytes become a JavaScript value. `string` and `json` decode
 * strict UTF-8: bytes that are not UTF-8 fail the record (a `RecordDecodeError`).
 */
export type Format = 'json' | 'string' | 'bytes';

/** One header as it was on the wire; Kafka allows a name to repeat. */
export interface RawHeader {
  readonly name: string;
  readonly value: Uint8Array;
}

/**
 * A decoded Kafka record.
 * @typeParam V the value's type once decoded (and validated, if a schema was given)
 * @typeParam K the key's type once decoded
 */
export interface KafkaRecord<V = unknown, K = string> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /**
   * Milliseconds since the epoch, as the broker stored it: -1 for a record sent without a time
   * (with `CREATE_TIME`, or `NO_TIMESTAMP_TYPE`), and negative for a producer's time before 1970.
   */
  readonly timestamp: number;
  readonly timestampType: TimestampType;
  /** The decoded key, or `null` when the record has none. */
  readonly key: K | null;
  /** The decoded value, or `null` for a tombstone. */
  readonly value: V | null;
  /** Header values decoded as UTF-8; when a name repeats, the last one wins. */
  readonly headers: Readonly<Record<string, string>>;
  /** Every header as it was on the wire, in order. */
  readonly rawHeaders: readonly RawHeader[];
}

/** A record as Lambda delivers it inside an MSK or self-managed Kafka event. */
export interface EventRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: TimestampType;
  /** Base64; absent when the record has no key (null is accepted too). */
  key?: string | null;
  /** Base64; absent for a tombstone, as Lambda sends it (null is accepted too). */
  value?: string | null;
  /** One single-entry object per header; bytes are signed (Java's `byte`). */
  headers: Array<Record<string, number[]>>;
}

/** The event Lambda's Kafka trigger passes to a function. */
export type KafkaEvent =
  | {
      eventSource: 'aws:kafka';
      eventSourceArn: string;
      bootstrapServers?: string;
      records: Record<string, EventRecord[]>;
    }
  | {
      eventSource: 'SelfManagedKafka';
      bootstrapServers?: string;
      records: Record<string, EventRecord[]>;
    };

/** All records of one partition in one event, in offset order. */
export interface PartitionSlice<R = EventRecord> {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly R[];
}

/** How to decode a consumer's records. */
export interface DecodeOptions {
  /** @default 'json' */
  value?: Format;
  /** `ctx.state` keys items by it as `stateKeyOf` spells it. @default 'string' */
  key?: Format;
  /** Validates the decoded value (zod, valibot, arktype: any Standard Schema). */
  schema?: StandardSchemaV1;
}
