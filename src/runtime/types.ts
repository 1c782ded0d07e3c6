import type { MiddlewareObj } from '@middy/core';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type {
  FieldFormat,
  KafkaEvent,
  KafkaRecord,
  PartitionSlice,
  SchemaCodec,
} from '../event/index.ts';
import type { Logger } from './logger.ts';

/** The decoded form of a `FieldFormat`: a schema codec gives its own type. */
export type Decoded<F extends FieldFormat | undefined, Default> =
  F extends SchemaCodec<infer T>
    ? T
    : F extends 'string'
      ? string
      : F extends 'bytes'
        ? Uint8Array
        : F extends 'json'
          ? unknown
          : Default;

/** What a consumer reads and how it is deployed. */
export interface ConsumerOptions<
  S extends StandardSchemaV1 | undefined = StandardSchemaV1 | undefined,
  VF extends FieldFormat | undefined = FieldFormat | undefined,
  KF extends FieldFormat | undefined = FieldFormat | undefined,
> {
  /** The topic to read; one topic per consumer, as Lambda's event-source mapping allows. */
  topic: string;
  /** The consumer name: the Lambda function and the CLI use it. @default the class name in kebab-case */
  name?: string;
  /** The Kafka consumer group, which owns the offsets and the state. @default the name */
  group?: string;
  /** Records per Lambda invocation, 1 to 10,000. @default 100 */
  batchSize?: number;
  /** How to decode values. @default 'json' */
  value?: VF;
  /**
   * How to decode keys. `ctx.state` keys its items by the key: `string` as it is, `bytes` as
   * base64, `json` as canonical JSON (sorted object keys, no whitespace); see `stateKeyOf`.
   * @default 'string'
   */
  key?: KF;
  /** Validates each decoded value; any Standard Schema (zod, valibot, arktype). */
  schema?: S;
  /** middy middlewares wrapped around the generated Lambda handler, in order. */
  middlewares?: ReadonlyArray<MiddlewareObj<KafkaEvent>>;
  /** How `dogear/serverless` deploys the function and its event-source mapping. */
  deploy?: DeployOptions;
  /**
   * How long a warm process may answer a read from its cache when it read the item but did not
   * write it (ms): such an item may be another partition's, whose writes this process does not
   * see. Items this process wrote are checked by the version condition of their next write
   * instead. 0 reads every such item afresh. See "Isolation" in docs/state.md.
   * @default 1000
   */
  maxReadAgeMs?: number;
  /**
   * The items of `ctx.table(name)` a record will read, by table: a slice reads them for all its
   * records in one batch (`BatchGetItem`) at its first read, instead of one `GetItem` each when
   * each record runs. `ctx.state`'s items need no naming: they are read ahead at the first
   * `ctx.state` read. An item named and never read costs a read and nothing else; a read not
   * named still works. See "Batched reads" in docs/state.md.
   * @example reads: { seen: (record) => record.value?.id }
   */
  reads?: Reads<ValueOf<S, VF>, Decoded<KF, string>>;
  /**
   * The topics `ctx.emit` may write. The plugin lets the function write these and no others,
   * and `ctx.emit` to a topic not listed fails the record. See docs/pipelines.md.
   * @example emits: ['temperature-alerts']
   */
  emits?: readonly string[];
  /**
   * After `after` failed deliveries of the same record, the record goes to `to` (a Kafka topic,
   * an SQS queue ARN or an S3 bucket ARN), through the outbox, in the commit that moves the
   * checkpoint past it; the partition moves on. A delivery that timed out or killed the process
   * counts as failed. See docs/pipelines.md.
   * @example deadLetter: { after: 3, to: 'temperature-readings.dead-letters' }
   */
  deadLetter?: DeadLetterOptions;
}

/** Where a record that keeps failing goes, and after how many failed deliveries. */
export interface DeadLetterOptions {
  /** Failed deliveries of the same record before it goes to `to`, 1 to 100. */
  readonly after: number;
  /** A Kafka topic on the same cluster, `arn:aws:sqs:<region>:<account>:<queue>`, or `arn:aws:s3:::<bucket>`. */
  readonly to: string;
}

/** How `ctx.emit` writes an output. */
export interface EmitOptions {
  /** The output's key: a string is written as UTF-8. Kafka's default partitioner (murmur2) picks its partition. */
  key?: string | Uint8Array | null;
  /** Header values, text as UTF-8. */
  headers?: Readonly<Record<string, string | Uint8Array>>;
  /** How the value is written. @default 'json' */
  format?: FieldFormat;
  /** With a schema codec that has a registry: the writer schema's id, as `codec.encode` takes it. */
  schemaId?: number | string;
}

/** The decoded (and validated) value type of a consumer's records. */
export type ValueOf<S, VF extends FieldFormat | undefined> = S extends StandardSchemaV1
  ? StandardSchemaV1.InferOutput<S>
  : Decoded<VF, unknown>;

/** For each table, the keys of it that a record will read (none: `undefined` or `[]`). */
export type Reads<V = unknown, K = unknown> = {
  readonly [table: string]: (record: KafkaRecord<V, K>) => string | readonly string[] | undefined;
};

/**
 * The Lambda function's and the event-source mapping's settings; `custom.dogear` in
 * serverless.yml gives defaults, these override them per consumer.
 */
export interface DeployOptions {
  /** MB, 128 to 10,240. @default 1024 */
  memorySize?: number;
  /** Seconds, 1 to 900. @default 60 */
  timeout?: number;
  /** Seconds Lambda gathers records before invoking, 0 to 300. @default 0 */
  batchingWindow?: number;
  /** Where a new consumer group starts. @default 'TRIM_HORIZON' */
  startingPosition?: 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';
  /** Unix seconds, with `startingPosition: 'AT_TIMESTAMP'`. */
  startingPositionTimestamp?: number;
  /** Lambda event filter patterns (JSON strings or objects); records that match none are dropped. */
  filterPatterns?: ReadonlyArray<string | Record<string, unknown>>;
  /** Provisioned mode: event pollers kept ready, 1 to 200 each. */
  provisionedPollers?: { minimum?: number; maximum?: number };
  /**
   * Where records go after retries are exhausted: an SQS queue, SNS topic or S3 bucket ARN
   * (either poller mode), or `kafka://<topic>` on the same cluster. See docs/deploy.md.
   */
  onFailure?: string;
  /** @default true */
  enabled?: boolean;
  /**
   * Answer a failed record with a partial batch response instead of failing the invocation:
   * Lambda then retries only the failed partitions, from the failed record (provisioned mode).
   * @default false
   */
  reportBatchItemFailures?: boolean;
  /** Split a failing batch in two and retry each half (provisioned mode). @default false */
  bisectBatchOnError?: boolean;
  /** Retries of a failing batch, -1 for until the records expire (provisioned mode). @default -1 */
  maximumRetryAttempts?: number;
  /**
   * Seconds: records older than this are not sent to the function but discarded, or sent to
   * `onFailure`; 60 to 604,800, or -1 for no limit (provisioned mode). @default -1
   */
  maximumRecordAgeInSeconds?: number;
  /**
   * Lets Lambda's event-source mapping validate records against a schema registry (and, with
   * `eventRecordFormat: 'JSON'`, decode them) before the function sees them. Provisioned mode
   * only, and Lambda drops a record it cannot decode unless `onFailure` is set. Without it,
   * the function decodes (`avro()`, `protobuf()`, `jsonSchema()` from `dogear/schema`), which
   * needs no provisioned mode. See docs/deploy.md.
   */
  schemaRegistry?: SchemaRegistryDeployOptions;
}

/**
 * The event-source mapping's `SchemaRegistryConfig` (CloudFormation:
 * `AWS::Lambda::EventSourceMapping SchemaRegistryConfig`).
 */
export interface SchemaRegistryDeployOptions {
  /**
   * A Glue registry's ARN (`arn:aws:glue:<region>:<account>:registry/<name>`), or a Confluent
   * registry's URL (`https://…`).
   */
  uri: string;
  /**
   * What Lambda hands the function: `JSON` (the record converted to JSON) or `SOURCE` (the
   * payload as written, less the registry's framing). A codec's `lambdaRecordFormat` must agree.
   */
  eventRecordFormat: 'JSON' | 'SOURCE';
  /**
   * How Lambda authenticates to a Confluent registry: at most two, each a Secrets Manager secret
   * ARN. None for Glue, which Lambda reads as the function's role.
   */
  accessConfigs?: ReadonlyArray<{
    type: 'BASIC_AUTH' | 'CLIENT_CERTIFICATE_TLS_AUTH' | 'SERVER_ROOT_CA_CERTIFICATE';
    uri: string;
  }>;
  /** Which parts of a record Lambda validates (and, with `JSON`, decodes). @default ['VALUE'] */
  validate?: ReadonlyArray<'KEY' | 'VALUE'>;
}

/** Lambda's partial batch response for Kafka: each failed partition and the offset to resume at. */
export interface KafkaBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: { partition: string; offset: number } }>;
}

/** A table of a consumer group's state: every key is a string, every value JSON. */
export interface Table<T = unknown> {
  get(key: string): Promise<T | undefined>;
  /** Reads several keys, in their order, as `get` reads each; those not held are read in one batch. */
  getMany(keys: readonly string[]): Promise<Array<T | undefined>>;
  /** Buffers a write; it lands when the record's batch commits. */
  set(key: string, value: T): void;
  /** Reads, applies `fn`, writes its result (or deletes on `undefined`), and returns it. */
  update(key: string, fn: (current: T | undefined) => T | undefined): Promise<T | undefined>;
  delete(key: string): void;
  /** Adds to a number without reading it (a missing key counts as 0). */
  add(key: string, n: number): void;
}

/** The same verbs as `Table`, for the item keyed by the current record's key. */
export interface KeyedState<T = unknown> {
  get(): Promise<T | undefined>;
  set(value: T): void;
  update(fn: (current: T | undefined) => T | undefined): Promise<T | undefined>;
  delete(): void;
  add(n: number): void;
}

/** What a handler gets besides its record(s). */
export interface Context {
  readonly consumer: string;
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  /** The current record's offset; in `@onBatch`, the slice's last. */
  readonly offset: number;
  /** The MSK cluster the event came from (its ARN); undefined for self-managed Kafka. */
  readonly eventSourceArn: string | undefined;
  /** The brokers the event came from, as Lambda lists them (comma-separated). */
  readonly bootstrapServers: string | undefined;
  /** A table of the consumer group's state. */
  table<T = unknown>(name: string): Table<T>;
  /** The table `state`, keyed by the current record's key (records without a key cannot use it). */
  readonly state: KeyedState;
  readonly log: Logger;
  /**
   * Runs an effect outside state (an HTTP call, a publish) at most once for this record and
   * `name`, and returns its stored result on a redelivery. The result must be JSON. While
   * another invocation is inside the effect (within its Lambda deadline), the record fails with
   * `OnceInProgressError` and is redelivered. Records only: `@onBatch` gets `OnceInBatchError`.
   */
  once<T>(name: string, fn: () => T | Promise<T>, options?: OnceOptions): Promise<T>;
  /**
   * Writes `value` to `topic` (one the consumer lists in `emits`) exactly when this record's
   * effects commit: it goes to the outbox in the same transaction as the state and the
   * checkpoint, and is relayed to Kafka right after. A record that throws emits nothing. A
   * value `format` cannot encode fails the record when it ends. See docs/pipelines.md.
   */
  emit(topic: string, value: unknown, options?: EmitOptions): void;
}

export interface OnceOptions {
  /** How long the record of the effect is kept. @default 604800 (7 days) */
  ttlSeconds?: number;
  /**
   * What to do when an earlier delivery started the effect and died before it finished (its
   * invocation's deadline passed without the effect finishing):
   * `'throw'` fails the record until you decide, `'skip'` assumes it happened (returns
   * `undefined`), `'run'` runs it again (at least once). @default 'throw'
   */
  ifInterrupted?: 'throw' | 'skip' | 'run';
}

export type RecordHandler<V = unknown, K = string> = (
  record: KafkaRecord<V, K>,
  ctx: Context,
) => unknown;

export type BatchHandler<V = unknown, K = string> = (
  slice: PartitionSlice<KafkaRecord<V, K>>,
  ctx: Context,
) => unknown;

/** A consumer, ready to run: what `@consumer` and `defineConsumer` both produce. */
export interface ConsumerDefinition {
  readonly name: string;
  readonly group: string;
  readonly topic: string;
  readonly batchSize: number;
  readonly value: FieldFormat;
  readonly key: FieldFormat;
  readonly schema?: StandardSchemaV1;
  readonly middlewares: ReadonlyArray<MiddlewareObj<KafkaEvent>>;
  readonly deploy: DeployOptions;
  /** How long a cached read of an item this process did not write is served (ms). */
  readonly maxReadAgeMs: number;
  /** The items a record will read, by table (`ConsumerOptions.reads`). */
  readonly reads?: Reads;
  /** The topics `ctx.emit` may write (`ConsumerOptions.emits`), none when empty. */
  readonly emits: readonly string[];
  /** Where records that keep failing go (`ConsumerOptions.deadLetter`). */
  readonly deadLetter?: DeadLetterOptions;
  /** Whether the handler takes one record or a partition slice. */
  readonly mode: 'record' | 'batch';
  /** Builds the handler; a class is instantiated once per process. */
  readonly create: () => RecordHandler<unknown, unknown> | BatchHandler<unknown, unknown>;
}
