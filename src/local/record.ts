/**
 * `dogear record`: copies a topic's records, as they are in the log, into an NDJSON events file
 * that `dogear invoke` and `dogear produce` read.
 *
 * Recording reads like a tool, not like a consumer: Metadata, ListOffsets and Fetch requests
 * with partitions and offsets chosen here. It never asks a group coordinator anything, so no
 * consumer group is joined or created and no offset is committed: nobody's dog-ear moves.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import {
  type ClusterMetadata,
  Consumer,
  FetchIsolationLevels,
  type fetchV17,
  IS_CONTROL,
  ListOffsetTimestamps,
  type RecordsBatch,
} from '@platformatic/kafka';
import { DogearError } from '../errors.ts';
import {
  type DecodeOptions,
  decodeRecord,
  decodeSchemaFields,
  decodesThroughSchema,
  eventRecordOf,
  type KafkaRecord,
  type NdjsonRecord,
  type SchemaRef,
  type TimestampType,
} from '../event/index.ts';
import {
  connectionProblem,
  type KafkaConnectionOptions,
  kafkaClientOptions,
} from '../output/index.ts';
import { LocalInputError } from './errors.ts';

/** Where recording starts in each partition. */
export type RecordFrom =
  /** The oldest record still in the log. */
  | 'earliest'
  /** Only records produced after recording starts. */
  | 'latest'
  /** This offset in every partition (clamped to what the log still holds). */
  | number
  /** The first record at or after this time in each partition (ListOffsets by timestamp). */
  | Date;

export interface RecordTopicOptions extends KafkaConnectionOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  topic: string;
  /** @default 'earliest' */
  from?: RecordFrom;
  /**
   * Stop after this many records. They are spread over the partitions, each partition's
   * records a run without gaps from where it started.
   */
  max?: number;
  /** A file to write (atomically, its folder created), or a stream. @default process.stdout */
  out?: string | NodeJS.WritableStream;
  /** Progress lines: a start line, one every `progressEvery` records, one at the end. */
  progress?: (line: string) => void;
  /** @default 1000 */
  progressEvery?: number;
  /**
   * Stop when no record arrives for this long. With `from: 'latest'` this is how recording
   * ends without `max`; otherwise it only guards against a partition that stops advancing.
   * @default 10000
   */
  idleMs?: number;
  /** Stops recording; what was read so far is written. */
  signal?: AbortSignal;
  /**
   * A consumer's key and value formats (its definition will do): each key or value it decodes
   * through a schema is shown decoded, as its handler gets it, beside the bytes (see
   * `decodedLine`).
   */
  decode?: Pick<DecodeOptions, 'key' | 'value'>;
}

/** Why recording stopped. */
export type RecordStop = 'end' | 'max' | 'idle' | 'signal';

/** What was read from one partition: offsets `[startOffset, nextOffset)`. */
export interface RecordedPartition {
  partition: number;
  startOffset: number;
  /** The offset to continue from: one past the last record read (or marker passed). */
  nextOffset: number;
  records: number;
}

export interface RecordTopicResult {
  topic: string;
  records: number;
  /** Partitions of the topic, all of which were read. */
  partitions: number;
  /** The file written, absolute; absent when writing to a stream. */
  file?: string;
  stoppedBy: RecordStop;
  byPartition: RecordedPartition[];
  durationMs: number;
}

const RECORD_OPTIONS = new Set([
  'brokers',
  'topic',
  'from',
  'max',
  'out',
  'progress',
  'progressEvery',
  'idleMs',
  'signal',
  'sasl',
  'tls',
  'decode',
]);
const DEFAULT_IDLE_MS = 10_000;
const DEFAULT_PROGRESS_EVERY = 1000;
const PARTITION_MAX_BYTES = 1024 * 1024;
/** A fetch returns at once when data is there; the wait only matters on an idle partition. */
const MAX_WAIT_MS = 500;
/** The batch attribute bit saying the broker stamped the time (`LogAppendTime` topics). */
const LOG_APPEND_TIME = 1 << 3;
const FETCH_ATTEMPTS = 3;

/**
 * Records a topic into NDJSON that `dogear invoke` reads: every partition, sorted by partition
 * then offset, each record's offset, timestamp, key, value and headers byte for byte.
 *
 * It stops at `max` records, when every partition reaches the end offset it had when recording
 * started (except `from: 'latest'`), after `idleMs` without records, or on `signal`. The
 * records are held in memory until then, to be written in order: `dogear invoke` reads an
 * events file whole anyway.
 */
export async function recordTopic(options: RecordTopicOptions): Promise<RecordTopicResult> {
  const started = performance.now();
  checkRecordOptions(options);
  const { topic } = options;
  const say = options.progress ?? (() => {});
  const reader = new Consumer({
    clientId: 'dogear-record',
    // The client's constructor wants a group; it is never sent, because recording makes no
    // group request (no JoinGroup, no OffsetCommit), so no group comes to exist on the broker.
    groupId: `dogear-record-unused-${randomUUID()}`,
    bootstrapBrokers: options.brokers,
    autocommit: false,
    // What a read_committed consumer sees: aborted transactions and markers are left out.
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    ...kafkaClientOptions(options),
  });
  try {
    const metadata = await topicMetadata(reader, options);
    const partitions = metadata.topics.get(topic)!.partitionsCount;
    const cursors = await startCursors(reader, topic, partitions, options.from ?? 'earliest');
    say(startLine(topic, cursors, options.from ?? 'earliest'));
    const stoppedBy = await readCursors(reader, topic, cursors, options, started);
    const decoded = options.decode ? await decodeLines(cursors, options.decode) : undefined;
    if (decoded?.failed) {
      say(
        `${topic}: ${plural(decoded.failed, 'record')} could not be decoded, kept as recorded with "decodeError" (the first: ${decoded.first})`,
      );
    }
    const file = await writeRecording(options.out, cursors);
    const records = cursors.reduce((n, c) => n + c.lines.length, 0);
    const durationMs = Math.round(performance.now() - started);
    say(endLine(topic, records, partitions, file, stoppedBy, options, durationMs));
    return {
      topic,
      records,
      partitions,
      ...(file ? { file } : {}),
      stoppedBy,
      byPartition: cursors.map((c) => ({
        partition: c.partition,
        startOffset: Number(c.start),
        nextOffset: Number(c.next),
        records: c.lines.length,
      })),
      durationMs,
    };
  } finally {
    await reader.close();
  }
}

function checkRecordOptions(options: RecordTopicOptions): void {
  for (const key of Object.keys(options)) {
    if (!RECORD_OPTIONS.has(key)) throw new LocalInputError(`Unknown option '${key}'`);
  }
  if (!Array.isArray(options.brokers) || options.brokers.length === 0) {
    throw new LocalInputError(`Missing required option 'brokers' (host:port strings)`);
  }
  if (typeof options.topic !== 'string' || options.topic === '') {
    throw new LocalInputError(`Missing required option 'topic' (string)`);
  }
  const { from } = options;
  const fromOk =
    from === undefined ||
    from === 'earliest' ||
    from === 'latest' ||
    (typeof from === 'number' && Number.isSafeInteger(from) && from >= 0) ||
    (from instanceof Date && !Number.isNaN(from.getTime()));
  if (!fromOk) {
    throw new LocalInputError(
      `Option 'from' must be 'earliest', 'latest', an offset (integer ≥ 0) or a valid Date; received ${String(from)}`,
    );
  }
  for (const name of ['max', 'idleMs', 'progressEvery'] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
      throw new LocalInputError(
        `Option '${name}' must be a positive integer; received ${String(value)}`,
      );
    }
  }
}

async function topicMetadata(
  reader: Consumer,
  options: RecordTopicOptions,
  forceUpdate = false,
): Promise<ClusterMetadata> {
  try {
    return await reader.metadata({ topics: [options.topic], forceUpdate });
  } catch (error) {
    if (/unknown topic/i.test((error as Error).message)) {
      throw new LocalInputError(
        `Topic ${options.topic} does not exist on ${options.brokers.join(',')}; did you mean another topic or cluster?`,
        { cause: error },
      );
    }
    throw new DogearError(connectionProblem(error, options.brokers, options), { cause: error });
  }
}

/** A partition being read: where it started, where it is, where it ends, and its lines. */
interface PartitionCursor {
  readonly partition: number;
  readonly start: bigint;
  next: bigint;
  /** Exclusive; `undefined` while following new records (`from: 'latest'`). */
  readonly end: bigint | undefined;
  readonly lines: string[];
}

/** Start and end offsets as of now; the end is the last stable offset (read_committed). */
async function startCursors(
  reader: Consumer,
  topic: string,
  partitions: number,
  from: RecordFrom,
): Promise<PartitionCursor[]> {
  const offsetsAt = async (timestamp: bigint) =>
    (await reader.listOffsets({ topics: [topic], timestamp })).get(topic)!;
  const earliest = await offsetsAt(ListOffsetTimestamps.EARLIEST);
  const latest = await offsetsAt(ListOffsetTimestamps.LATEST);
  // ListOffsets by time answers -1 for a partition with no record at or after that time.
  const byTime = from instanceof Date ? await offsetsAt(BigInt(from.getTime())) : undefined;
  return Array.from({ length: partitions }, (_, partition) => {
    const low = earliest[partition]!;
    const high = latest[partition]!;
    const wanted =
      from === 'earliest'
        ? low
        : from === 'latest'
          ? high
          : typeof from === 'number'
            ? BigInt(from)
            : byTime![partition]! < 0n
              ? high
              : byTime![partition]!;
    const start = wanted < low ? low : wanted > high ? high : wanted;
    return { partition, start, next: start, end: from === 'latest' ? undefined : high, lines: [] };
  });
}

function isActive(cursor: PartitionCursor): boolean {
  return cursor.end === undefined || cursor.next < cursor.end;
}

/**
 * Fetches rounds from every partition still short of its end until one of the stop conditions
 * holds. With `max`, each round gives every active partition an equal share of what is left,
 * so a capped recording samples all partitions instead of only the first.
 */
async function readCursors(
  reader: Consumer,
  topic: string,
  cursors: PartitionCursor[],
  options: RecordTopicOptions,
  started: number,
): Promise<RecordStop> {
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const every = options.progressEvery ?? DEFAULT_PROGRESS_EVERY;
  const waitMs = Math.min(MAX_WAIT_MS, idleMs);
  let total = 0;
  let lastMove = performance.now();
  for (;;) {
    const active = cursors.filter(isActive);
    if (active.length === 0) return 'end';
    if (options.max !== undefined && total >= options.max) return 'max';
    if (options.signal?.aborted) return 'signal';
    if (performance.now() - lastMove >= idleMs) return 'idle';

    const fetched = await fetchRound(reader, topic, active, waitMs, options);
    let left = options.max === undefined ? Number.POSITIVE_INFINITY : options.max - total;
    const share = Math.ceil(left / active.length);
    let moved = false;
    for (const cursor of active) {
      const batches = fetched.get(cursor.partition) ?? [];
      const before = { next: cursor.next, lines: cursor.lines.length };
      takeRecords(topic, cursor, batches, Math.min(share, left));
      const taken = cursor.lines.length - before.lines;
      left -= taken;
      if (options.progress && Math.floor((total + taken) / every) > Math.floor(total / every)) {
        options.progress(
          `${topic}: ${total + taken} records (${Math.round(performance.now() - started)} ms)`,
        );
      }
      total += taken;
      moved ||= cursor.next !== before.next;
    }
    if (moved) lastMove = performance.now();
  }
}

/** One Fetch per partition leader, in parallel; batches by partition. */
async function fetchRound(
  reader: Consumer,
  topic: string,
  cursors: PartitionCursor[],
  waitMs: number,
  options: RecordTopicOptions,
): Promise<Map<number, RecordsBatch[]>> {
  for (let attempt = 1; ; attempt++) {
    // Leaders move (an MSK broker restart, say); fresh metadata on a retry finds them.
    const metadata = await topicMetadata(reader, options, attempt > 1);
    const info = metadata.topics.get(topic)!;
    const byLeader = new Map<number, PartitionCursor[]>();
    for (const cursor of cursors) {
      const leader = info.partitions[cursor.partition]!.leader;
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), cursor]);
    }
    try {
      const responses = await Promise.all(
        [...byLeader].map(([node, mine]) =>
          reader.fetch({
            node,
            maxWaitTime: waitMs,
            topics: [{ topicId: info.id, partitions: mine.map(fetchPartition) }],
          }),
        ),
      );
      return batchesByPartition(responses);
    } catch (error) {
      if (attempt >= FETCH_ATTEMPTS) {
        throw new DogearError(
          `Cannot fetch records of topic ${topic} from ${options.brokers.join(',')} (${(error as Error).message})`,
          { cause: error },
        );
      }
    }
  }
}

function fetchPartition(cursor: PartitionCursor): fetchV17.FetchRequestPartition {
  return {
    partition: cursor.partition,
    fetchOffset: cursor.next,
    // -1: no leader-epoch fencing, which a one-off reader has no epoch history for.
    currentLeaderEpoch: -1,
    lastFetchedEpoch: -1,
    partitionMaxBytes: PARTITION_MAX_BYTES,
  };
}

function batchesByPartition(responses: fetchV17.FetchResponse[]): Map<number, RecordsBatch[]> {
  const batches = new Map<number, RecordsBatch[]>();
  for (const response of responses) {
    for (const topicResponse of response.responses) {
      for (const partition of topicResponse.partitions) {
        batches.set(partition.partitionIndex, partition.records ?? []);
      }
    }
  }
  return batches;
}

/**
 * Turns fetched batches into NDJSON lines and moves the cursor. A batch can begin before the
 * offset asked for (the broker sends whole batches); control batches (transaction markers) hold
 * no records but take offsets, so the cursor steps over them.
 */
function takeRecords(
  topic: string,
  cursor: PartitionCursor,
  batches: readonly RecordsBatch[],
  budget: number,
): void {
  let taken = 0;
  for (const batch of batches) {
    const afterBatch = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
    if (!(batch.attributes & IS_CONTROL)) {
      for (const record of batch.records) {
        const offset = batch.firstOffset + BigInt(record.offsetDelta);
        if (offset < cursor.next) continue;
        if (cursor.end !== undefined && offset >= cursor.end) break;
        if (taken >= budget) return;
        cursor.lines.push(
          JSON.stringify(
            ndjsonRecordOf({
              topic,
              partition: cursor.partition,
              offset: Number(offset),
              ...timestampOf(batch, record),
              key: record.key,
              value: record.value,
              headers: record.headers,
            }),
          ),
        );
        taken++;
        cursor.next = offset + 1n;
      }
    }
    if (afterBatch > cursor.next) cursor.next = afterBatch;
  }
  if (cursor.end !== undefined && cursor.next > cursor.end) cursor.next = cursor.end;
}

/**
 * A record's time and its type as Java's client reads them from a v2 record batch (Lambda's
 * event carries what that client reports): under LogAppendTime (a batch attribute, set by the
 * broker) the batch's max timestamp, which the broker overwrote with its own clock; else
 * `CREATE_TIME`, the producer's, the batch's first timestamp plus the record's delta, even when
 * that is -1 (sent without a time) or negative. `NO_TIMESTAMP_TYPE` belongs to v0 messages,
 * which a v2 batch cannot hold (`DefaultRecordBatch.timestampType()`).
 */
export function timestampOf(
  batch: Pick<RecordsBatch, 'attributes' | 'firstTimestamp' | 'maxTimestamp'>,
  record: { timestampDelta: bigint },
): { timestamp: number; timestampType: TimestampType } {
  if (batch.attributes & LOG_APPEND_TIME) {
    return { timestamp: Number(batch.maxTimestamp), timestampType: 'LOG_APPEND_TIME' };
  }
  return {
    timestamp: Number(batch.firstTimestamp + record.timestampDelta),
    timestampType: 'CREATE_TIME',
  };
}

/** A record as it is on the wire. */
export interface WireRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: TimestampType;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: ReadonlyArray<readonly [name: Uint8Array | null, value: Uint8Array | null]>;
}

// `ignoreBOM`: a leading byte-order mark is part of the value, not something to strip.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The bytes as text if they are valid UTF-8, else `undefined`. */
function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The NDJSON line for one record, such that `eventRecordOf` gives back the same bytes. Text is
 * written as text, other bytes as base64; a JSON object or array whose text is exactly what
 * `JSON.stringify` writes is kept as JSON, so recordings of JSON topics stay readable.
 */
export function ndjsonRecordOf(record: WireRecord): NdjsonRecord {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    timestampType: record.timestampType,
    ...bytesField('key', record.key, false),
    ...bytesField('value', record.value, true),
    ...headersField(record.headers),
  };
}

function bytesField(
  field: 'key' | 'value',
  bytes: Uint8Array | null,
  jsonAllowed: boolean,
): Partial<NdjsonRecord> {
  if (bytes === null) return { [field]: null };
  const text = utf8Text(bytes);
  if (text === undefined) return { [`${field}Base64`]: Buffer.from(bytes).toString('base64') };
  const json = jsonAllowed ? canonicalJson(text) : undefined;
  return { [field]: json ?? text };
}

/**
 * An object or array whose compact JSON is exactly `text`, else `undefined`. Scalars stay text:
 * a value `null` would read as a tombstone, and `"a"` as the text a.
 */
function canonicalJson(text: string): object | undefined {
  if (!text.startsWith('{') && !text.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && JSON.stringify(parsed) === text
      ? parsed
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `headers` when an object says it all: unique names, text values, and an object whose key
 * order is the wire order (JavaScript puts integer-like keys first). Otherwise `headersBase64`.
 */
function headersField(headers: WireRecord['headers']): Partial<NdjsonRecord> {
  if (headers.length === 0) return {};
  const names = headers.map(([name]) => (name ? lenientUtf8.decode(name) : ''));
  const texts = headers.map(([, value]) => (value ? utf8Text(value) : undefined));
  if (texts.every((t) => t !== undefined) && new Set(names).size === names.length) {
    const object = Object.fromEntries(names.map((name, i) => [name, texts[i]!]));
    if (Object.keys(object).every((key, i) => key === names[i])) return { headers: object };
  }
  return {
    headersBase64: headers.map(([, value], i) => [
      names[i]!,
      value ? Buffer.from(value).toString('base64') : null,
    ]),
  };
}

/** Replaces each recorded line by `decodedLine`'s; counts the records that failed. */
async function decodeLines(
  cursors: readonly PartitionCursor[],
  options: Pick<DecodeOptions, 'key' | 'value'>,
): Promise<{ failed: number; first?: string }> {
  let failed = 0;
  let first: string | undefined;
  for (const cursor of cursors) {
    for (const [i, line] of cursor.lines.entries()) {
      const decoded = await decodedLine(JSON.parse(line) as NdjsonRecord, options);
      if (decoded.decodeError !== undefined) {
        failed++;
        first ??= String(decoded.decodeError);
      }
      cursor.lines[i] = JSON.stringify(decoded, bytesAsBase64);
    }
  }
  return { failed, ...(first ? { first } : {}) };
}

/** A recorded line shown decoded: what `dogear record --decode` writes. */
export type DecodedLine = Omit<NdjsonRecord, 'key'> & {
  /** The key as recorded, or decoded when the consumer decodes it through a schema. */
  key?: unknown;
  valueSchema?: SchemaRef;
  keySchema?: SchemaRef;
  decodeError?: string;
};

/**
 * A recorded line with each key or value that `options` decodes through a schema decoded, by
 * the code the Lambda handler runs (`decodeRecord`, then `decodeSchemaFields`): `value` holds
 * what the handler gets and `valueSchema` the writer schema it came in, while `valueBase64`
 * keeps the bytes, which tools read first, so the file still replays byte for byte. A record
 * that does not decode is kept as recorded, with `decodeError` saying why.
 */
export async function decodedLine(
  line: NdjsonRecord,
  options: Pick<DecodeOptions, 'key' | 'value'>,
): Promise<DecodedLine> {
  const raw = eventRecordOf(line, `${line.topic}-${line.partition}@${line.offset}`);
  let record: KafkaRecord<unknown, unknown>;
  try {
    record = decodeRecord<unknown, unknown>(raw, options);
    if (decodesThroughSchema(options)) {
      record = await decodeSchemaFields<unknown, unknown>(record, raw, options);
    }
  } catch (error) {
    return { ...line, decodeError: (error as Error).message };
  }
  const out: DecodedLine = { ...line };
  for (const field of ['key', 'value'] as const) {
    const schema = record[`${field}Schema`];
    if (typeof options[field] !== 'object' || raw[field] == null) continue;
    Object.assign(out, {
      [field]: record[field],
      [`${field}Base64`]: raw[field],
      ...(schema ? { [`${field}Schema`]: schema } : {}),
    });
  }
  return out;
}

/** JSON.stringify's replacer: bytes (a Buffer, which avsc gives for `bytes`) as base64. */
export function bytesAsBase64(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  return original instanceof Uint8Array ? Buffer.from(original).toString('base64') : value;
}

/**
 * Writes the lines sorted by partition (they are in offset order already). A file is written
 * beside its final name and renamed, so a failed recording never leaves half a file.
 */
async function writeRecording(
  out: RecordTopicOptions['out'],
  cursors: readonly PartitionCursor[],
): Promise<string | undefined> {
  if (typeof out !== 'string') {
    await writeLines(out ?? process.stdout, cursors);
    return undefined;
  }
  const file = resolve(out);
  const partial = `${file}.${process.pid}.partial`;
  await mkdir(dirname(file), { recursive: true });
  try {
    const stream = createWriteStream(partial);
    await writeLines(stream, cursors);
    stream.end();
    await finished(stream);
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return file;
}

async function writeLines(
  stream: NodeJS.WritableStream,
  cursors: readonly PartitionCursor[],
): Promise<void> {
  for (const cursor of [...cursors].sort((a, b) => a.partition - b.partition)) {
    for (const line of cursor.lines) {
      if (!stream.write(`${line}\n`)) await drained(stream);
    }
  }
}

function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      stream.off('drain', done);
      stream.off('error', done);
      if (error) reject(error);
      else resolve();
    };
    stream.once('drain', done);
    stream.once('error', done);
  });
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function describeFrom(from: RecordFrom): string {
  if (from instanceof Date) return `from ${from.toISOString()}`;
  if (typeof from === 'number') return `from offset ${from}`;
  return `from ${from}`;
}

function startLine(topic: string, cursors: readonly PartitionCursor[], from: RecordFrom): string {
  const following = cursors.some((c) => c.end === undefined);
  const span = cursors.reduce((n, c) => n + Number((c.end ?? c.start) - c.start), 0);
  return `${topic}: reading ${plural(cursors.length, 'partition')} ${describeFrom(from)}${following ? ', new records only' : `, up to ${span} offsets`}`;
}

function endLine(
  topic: string,
  records: number,
  partitions: number,
  file: string | undefined,
  stoppedBy: RecordStop,
  options: RecordTopicOptions,
  durationMs: number,
): string {
  const why =
    stoppedBy === 'max'
      ? `, stopped at max ${options.max}`
      : stoppedBy === 'idle'
        ? `, stopped after ${options.idleMs ?? DEFAULT_IDLE_MS} ms without records`
        : stoppedBy === 'signal'
          ? ', stopped on request'
          : '';
  return `${topic}: recorded ${plural(records, 'record')} from ${plural(partitions, 'partition')}${file ? ` to ${file}` : ''}${why} (${durationMs} ms)`;
}
