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

/**
 * A key or value format decoded through a schema language: what `avro()`, `protobuf()` and
 * `jsonSchema()` make. `T` is the decoded type.
 */
export interface SchemaCodec<T = unknown> {
  readonly format: 'avro' | 'protobuf' | 'json-schema';
  /**
   * The registry writer schemas come from, if any: `dogear/serverless` grants the function
   * what reading it needs (Glue: `glue:GetSchemaVersion` on `registryName`'s schemas).
   */
  readonly registry?: {
    readonly wire: 'confluent' | 'glue';
    readonly name: string;
    readonly registryName?: string;
    /** The Secrets Manager secret the registry's credentials are read from, if any. */
    readonly secretArn?: string;
  };
  /** Decodes one key or value; a failure is a `SchemaDecodeError` (the caller names the record). */
  decode(bytes: Uint8Array, source: SchemaSource): Promise<SchemaDecoded<T>>;
  /**
   * The bytes a producer writes for `value` (for `dogear produce`, `dogear events` and tests).
   * With a registry, `id` names the writer schema: the payload is written in that schema (asked
   * of the registry, as a producer's serializer does) and framed with its id. Without one, the
   * payload is bare, in the codec's own schema. A value the schema refuses is a
   * `SchemaEncodeError` naming the field.
   */
  encode(value: unknown, id?: number | string): Promise<Uint8Array>;
  /** Never set: carries `T` for type inference. */
  readonly '~decoded'?: T;
}

/** What the event says of a key or value's schema, when Lambda's schema registry integration decoded it. */
export interface SchemaMetadata {
  /** `AVRO`, `PROTOBUF` or `JSON`. */
  readonly dataFormat?: string;
  /** Confluent's schema id (as text) or Glue's schema version UUID. */
  readonly schemaId?: string;
}

export interface SchemaSource {
  /** The record's `valueSchemaMetadata` or `keySchemaMetadata`, when Lambda decoded it. */
  readonly metadata?: SchemaMetadata;
}

/** The schema a key or value was written with, as the record shows it. */
export interface SchemaRef {
  readonly format: 'avro' | 'protobuf' | 'json-schema';
  /**
   * How it came: framed by a Confluent or Glue producer, bare (the schema given in code), or
   * already decoded (`lambda-json`) or unframed (`lambda-source`) by Lambda's integration.
   */
  readonly wire: 'confluent' | 'glue' | 'bare' | 'lambda-json' | 'lambda-source';
  /** Confluent's schema id or Glue's schema version UUID; absent for bare payloads. */
  readonly id?: number | string;
  /** The registry the writer schema came from. */
  readonly registry?: string;
}

export interface SchemaDecoded<T> {
  readonly value: T;
  readonly schema: SchemaRef;
}

/** How a key or value decodes: a plain format, or through a schema. */
export type FieldFormat = Format | SchemaCodec;

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
  /** The schema the value was written with, when the consumer decodes it through one. */
  readonly valueSchema?: SchemaRef;
  /** The schema the key was written with, when the consumer decodes it through one. */
  readonly keySchema?: SchemaRef;
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
  /** Set by Lambda's schema registry integration (provisioned mode) when it decoded the value. */
  valueSchemaMetadata?: SchemaMetadata;
  keySchemaMetadata?: SchemaMetadata;
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
  value?: FieldFormat;
  /** `ctx.state` keys items by it as `stateKeyOf` spells it. @default 'string' */
  key?: FieldFormat;
  /** Validates the decoded value (zod, valibot, arktype: any Standard Schema). */
  schema?: StandardSchemaV1;
}
