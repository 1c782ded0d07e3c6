/**
 * `dogear dead-letters`: what a consumer gave up on, read back from its `deadLetter.to` (a
 * Kafka topic, an SQS queue or an S3 bucket), and re-driven to the source topic once the
 * consumer is fixed.
 *
 * Listing reads the topic from the beginning as `dogear record` does (no group joined). Replay
 * remembers how far it got as the committed offsets of the consumer group
 * `dogear-dead-letters.<group>` on the dead-letter topic: it produces the letters past them,
 * then commits, so a second replay sends nothing again. A replay that dies between the two
 * sends its last letters again next time (at least once, like every Kafka producer).
 *
 * In a queue or a bucket a re-driven letter is deleted instead (DeleteMessage, DeleteObject),
 * after its original was produced: what is left is what was not replayed.
 */
import { Writable } from 'node:stream';
import { Admin, Producer } from '@platformatic/kafka';
import { type EventRecord, eventRecordOf, type NdjsonRecord } from '../event/index.ts';
import {
  connectionProblem,
  type DeadLetterDocument,
  type KafkaConnectionOptions,
  kafkaClientOptions,
  parseBucketArn,
  parseQueueArn,
} from '../output/index.ts';
import type { ConsumerDefinition } from '../runtime/index.ts';
import { DEAD_LETTER_HEADER, type DeadLetterFacts, ORIGIN_HEADER } from '../state/index.ts';
import {
  type DeadLetterStoreOptions,
  deleteFromBucket,
  deleteFromQueue,
  readBucket,
  readQueue,
  type StoredDeadLetter,
} from './dead-letters-aws.ts';
import { LocalInputError } from './errors.ts';
import { recordTopic } from './record.ts';

/** The header a re-driven record carries: `<topic>|<partition>|<offset>` it came from first. */
export const REDRIVEN_HEADER = 'dogear-redriven-from';
/** dogear's own headers, left off a re-driven record: it is the original, not a dead letter. */
const DOGEAR_HEADER = /^dogear-/i;

export interface DeadLettersOptions extends KafkaConnectionOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** The consumer whose dead letters to read: its name, group and `deadLetter`. */
  consumer: Pick<ConsumerDefinition, 'name' | 'group' | 'deadLetter'>;
  /** Produce the letters not replayed yet back to their source topic. @default false */
  replay?: boolean;
  /** Stop reading when no record arrives for this long (ms). @default 10000 */
  idleMs?: number;
  /** Progress lines. */
  progress?: (line: string) => void;
  /** How to reach a `deadLetter.to` that is an SQS queue or S3 bucket ARN. */
  aws?: DeadLetterStoreOptions;
}

/** One dead letter as it lies in the dead-letter topic, queue or bucket. */
export interface DeadLetterEntry {
  /** Where it lies in a dead-letter topic: its partition and offset (absent for SQS and S3). */
  readonly partition?: number;
  readonly offset?: number;
  /** Where it lies in an SQS queue: the message's id. */
  readonly messageId?: string;
  /** Where it lies in an S3 bucket: the object's key, `<group>/<topic>/<partition>/<offset>.json`. */
  readonly objectKey?: string;
  /** Why and from where (the `dogear-dead-letter` header). */
  readonly facts: DeadLetterFacts;
  /** The `dogear-origin` header: the dedup id of the relayed message. */
  readonly origin: string | null;
  /** The source record's bytes, base64 (null for none). */
  readonly key: string | null;
  readonly value: string | null;
  /** The source record's own headers, dogear's left out; values base64 (null: none, SQS/S3). */
  readonly headers: ReadonlyArray<readonly [name: string, base64: string | null]>;
  /**
   * Whether an earlier `--replay` re-drove it (or this one did: see `replayedNow`). Always false
   * before this run's replay in a queue or bucket: a re-driven letter is deleted from it.
   */
  readonly replayed: boolean;
}

/** What `dogear dead-letters --json` prints: version 1. */
export interface DeadLettersJsonResult {
  readonly version: 1;
  readonly consumer: string;
  readonly group: string;
  /** The dead-letter topic, or the queue's or bucket's ARN (the consumer's `deadLetter.to`). */
  readonly topic: string;
  /** The consumer group that remembers what was replayed (Kafka only). */
  readonly replayGroup?: string;
  readonly deadLetters: readonly DeadLetterEntry[];
  /** Re-driven by this run (0 without `replay`). */
  readonly replayedNow: number;
}

/** The group whose committed offsets on the dead-letter topic say what was replayed. */
export const replayGroupOf = (group: string) => `dogear-dead-letters.${group}`;

/**
 * Lists a consumer's dead letters in its Kafka dead-letter topic and, with `replay`, produces
 * those not replayed yet to their source topic and partition, then commits past them.
 */
export async function deadLetters(options: DeadLettersOptions): Promise<DeadLettersJsonResult> {
  const { consumer } = options;
  const to = consumer.deadLetter?.to;
  if (!to) {
    throw new LocalInputError(
      `Consumer ${consumer.name} has no dead letters: it sets no deadLetter; add deadLetter: { after: 3, to: '<topic>' } to its options`,
    );
  }
  if (to.startsWith('arn:')) return awsDeadLetters(to, options);
  const say = options.progress ?? (() => {});
  const replayGroup = replayGroupOf(consumer.group);
  const records = await readTopic(to, options);
  const committed = await committedOffsets(to, replayGroup, options);
  const entries = records.map((record) =>
    entryOf(record, (committed.get(record.partition) ?? 0) > record.offset),
  );
  const result = {
    version: 1 as const,
    consumer: consumer.name,
    group: consumer.group,
    topic: to,
    replayGroup,
    deadLetters: entries,
    replayedNow: 0,
  };
  if (!options.replay) return result;

  const pending = entries.filter((e) => !e.replayed);
  if (pending.length === 0) {
    say(`${to}: nothing to replay (${entries.length} dead letters, all replayed before)`);
    return result;
  }
  await produceOriginals(pending, options);
  say(`${to}: re-drove ${pending.length} dead letters to their source topics`);
  await commitPast(to, replayGroup, pending, options);
  return {
    ...result,
    deadLetters: entries.map((e) => (e.replayed ? e : { ...e, replayed: true })),
    replayedNow: pending.length,
  };
}

/**
 * The same for a queue or bucket: listed, and with `replay` each produced, then deleted from
 * it (a replay that dies between the two sends those again next time).
 */
async function awsDeadLetters(
  to: string,
  options: DeadLettersOptions,
): Promise<DeadLettersJsonResult> {
  const { consumer } = options;
  const aws = options.aws ?? {};
  const queue = parseQueueArn(to);
  const bucket = parseBucketArn(to);
  if (!queue && !bucket) {
    throw new LocalInputError(
      `Consumer ${consumer.name} sends its dead letters to '${to}', neither an SQS queue ARN (arn:aws:sqs:<region>:<account>:<queue>) nor an S3 bucket ARN (arn:aws:s3:::<bucket>); fix its deadLetter.to`,
    );
  }
  const stored = queue
    ? await readQueue(to, queue, { ...aws, keepInvisible: Boolean(options.replay) })
    : await readBucket(to, bucket!, consumer.group, aws);
  const entries = stored.map((letter) =>
    entryOfDocument(letter, queue ? 'messageId' : 'objectKey'),
  );
  const result = {
    version: 1 as const,
    consumer: consumer.name,
    group: consumer.group,
    topic: to,
    deadLetters: entries,
    replayedNow: 0,
  };
  if (!options.replay) return result;
  if (entries.length === 0) {
    options.progress?.(`${to}: nothing to replay`);
    return result;
  }
  await produceOriginals(entries, options);
  options.progress?.(`${to}: re-drove ${entries.length} dead letters to their source topics`);
  if (queue) await deleteFromQueue(to, queue, stored, aws);
  else await deleteFromBucket(to, bucket!, stored, aws);
  return {
    ...result,
    deadLetters: entries.map((e) => ({ ...e, replayed: true })),
    replayedNow: entries.length,
  };
}

function entryOfDocument(
  letter: StoredDeadLetter,
  place: 'messageId' | 'objectKey',
): DeadLetterEntry {
  const { origin, key, value, headers, ...facts } = letter.document as DeadLetterDocument &
    DeadLetterFacts;
  return {
    [place]: letter.where,
    facts,
    origin: origin ?? null,
    key,
    value,
    headers: headers.filter(([name]) => !DOGEAR_HEADER.test(name)),
    replayed: false,
  };
}

/** Every record of `topic` up to its end as of now; none when the topic does not exist yet. */
async function readTopic(topic: string, options: DeadLettersOptions): Promise<EventRecord[]> {
  const lines: string[] = [];
  let rest = '';
  const out = new Writable({
    write(chunk: Buffer, _, done) {
      const parts = (rest + chunk.toString()).split('\n');
      rest = parts.pop()!;
      lines.push(...parts.filter(Boolean));
      done();
    },
  });
  try {
    await recordTopic({
      brokers: options.brokers,
      topic,
      from: 'earliest',
      out,
      idleMs: options.idleMs ?? 10_000,
      ...(options.sasl ? { sasl: options.sasl } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.progress ? { progress: options.progress } : {}),
    });
  } catch (error) {
    // No topic: nothing was ever given up (the relay creates it with the first dead letter).
    if (error instanceof LocalInputError && /does not exist/.test(error.message)) {
      options.progress?.(`${topic} does not exist yet: no dead letters were ever sent`);
      return [];
    }
    throw error;
  }
  if (rest) lines.push(rest);
  return lines.map((line, i) =>
    eventRecordOf(JSON.parse(line) as NdjsonRecord, `${topic} record ${i}`),
  );
}

function entryOf(record: EventRecord, replayed: boolean): DeadLetterEntry {
  const where = `${record.topic}-${record.partition}@${record.offset}`;
  const headers = record.headers.flatMap((h) =>
    Object.entries(h).map(
      ([name, bytes]) => [name, Buffer.from(bytes.map((b) => b & 0xff))] as const,
    ),
  );
  const header = (name: string) => headers.find(([n]) => n === name)?.[1];
  const facts = header(DEAD_LETTER_HEADER);
  if (!facts) {
    throw new LocalInputError(
      `${where} has no ${DEAD_LETTER_HEADER} header, so it is not a dogear dead letter; is ${record.topic} the consumer's deadLetter.to, and does anything else write to it?`,
    );
  }
  let parsed: DeadLetterFacts;
  try {
    parsed = JSON.parse(facts.toString('utf8')) as DeadLetterFacts;
  } catch (error) {
    throw new LocalInputError(`${where} has a ${DEAD_LETTER_HEADER} header that is not JSON`, {
      cause: error,
    });
  }
  return {
    partition: record.partition,
    offset: record.offset,
    facts: parsed,
    origin: header(ORIGIN_HEADER)?.toString('utf8') ?? null,
    key: record.key ?? null,
    value: record.value ?? null,
    headers: headers
      .filter(([name]) => !DOGEAR_HEADER.test(name))
      .map(([name, bytes]) => [name, bytes.toString('base64')] as const),
    replayed,
  };
}

/** The replay group's committed offset per partition of `topic` (next offset to replay). */
async function committedOffsets(
  topic: string,
  group: string,
  options: DeadLettersOptions,
): Promise<Map<number, number>> {
  return withAdmin(options, async (admin) => {
    const [found] = await admin.listConsumerGroupOffsets({ groups: [group] });
    const offsets = new Map<number, number>();
    for (const t of found?.topics ?? []) {
      if (t.name !== topic) continue;
      for (const p of t.partitions) {
        if (p.committedOffset >= 0n) offsets.set(p.partitionIndex, Number(p.committedOffset));
      }
    }
    return offsets;
  });
}

/** Each letter's original record, to its source topic and partition, in order, idempotently. */
async function produceOriginals(
  letters: readonly DeadLetterEntry[],
  options: DeadLettersOptions,
): Promise<void> {
  // A record too large to keep was given up with its coordinates only: replaying the letter
  // would produce an empty record in its place.
  const omitted = letters.find((l) => l.facts.omitted);
  if (omitted) {
    const { topic, partition, offset, omitted: sizes } = omitted.facts;
    throw new LocalInputError(
      `The dead letter of ${topic}-${partition}@${offset} kept no bytes (its key and value were ${sizes!.keyBytes} and ${sizes!.valueBytes} bytes), so it cannot be replayed from the dead letters; nothing was replayed. Re-drive that record from ${topic} itself while retention keeps it (kafka-console-consumer --topic ${topic} --partition ${partition} --offset ${offset} --max-messages 1), then remove the letter and replay the rest`,
    );
  }
  const producer = new Producer({
    clientId: 'dogear-dead-letters',
    bootstrapBrokers: options.brokers,
    acks: -1,
    idempotent: true,
    ...kafkaClientOptions(options),
  });
  try {
    await producer.send({
      messages: letters.map((letter) => {
        const { topic, partition, offset } = letter.facts;
        const headers = new Map<Buffer, Buffer>(
          letter.headers.map(([name, value]) => [
            Buffer.from(name),
            Buffer.from(value ?? '', 'base64'),
          ]),
        );
        headers.set(Buffer.from(REDRIVEN_HEADER), Buffer.from(`${topic}|${partition}|${offset}`));
        return {
          topic,
          partition,
          ...(letter.key !== null ? { key: Buffer.from(letter.key, 'base64') } : {}),
          ...(letter.value !== null ? { value: Buffer.from(letter.value, 'base64') } : {}),
          headers,
        };
      }),
    });
  } catch (error) {
    throw new LocalInputError(
      `Cannot re-drive the dead letters: ${connectionProblem(error, options.brokers, options)}`,
      { cause: error },
    );
  } finally {
    await producer.close();
  }
}

/** Commits the replay group past the letters just re-driven, per dead-letter partition. */
async function commitPast(
  topic: string,
  group: string,
  letters: readonly DeadLetterEntry[],
  options: DeadLettersOptions,
): Promise<void> {
  const next = new Map<number, number>();
  for (const l of letters)
    next.set(l.partition!, Math.max(next.get(l.partition!) ?? 0, l.offset! + 1));
  await withAdmin(options, (admin) =>
    admin.alterConsumerGroupOffsets({
      groupId: group,
      topics: [
        {
          name: topic,
          partitionOffsets: [...next].map(([partition, offset]) => ({
            partition,
            offset: BigInt(offset),
          })),
        },
      ],
    }),
  );
}

async function withAdmin<T>(
  options: DeadLettersOptions,
  work: (admin: Admin) => Promise<T>,
): Promise<T> {
  const admin = new Admin({
    clientId: 'dogear-dead-letters',
    bootstrapBrokers: options.brokers,
    ...kafkaClientOptions(options),
  });
  try {
    return await work(admin);
  } catch (error) {
    throw new LocalInputError(connectionProblem(error, options.brokers, options), {
      cause: error,
    });
  } finally {
    await admin.close();
  }
}

/** One line per dead letter: where it came from, how often it failed, why, and when. */
export function deadLetterLine(entry: DeadLetterEntry): string {
  const { topic, partition, offset, attempts, error, at } = entry.facts;
  return `${topic}-${partition}@${offset}  ${attempts} attempt${attempts === 1 ? '' : 's'}  ${error.name}: ${error.message}  ${new Date(at).toISOString()}${entry.replayed ? '  (replayed)' : ''}`;
}
