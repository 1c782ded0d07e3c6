import { Admin, Producer } from '@platformatic/kafka';
import type { EventRecord } from '../event/index.ts';
import {
  connectionProblem,
  type KafkaConnectionOptions,
  kafkaClientOptions,
} from '../output/index.ts';
import { LocalInputError } from './errors.ts';

export interface ProduceOptions extends KafkaConnectionOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  records: readonly EventRecord[];
  progress?: (line: string) => void;
}

/**
 * Writes recorded records to a broker, each to the partition it came from, creating missing
 * topics with enough partitions. The broker assigns new offsets; order within a partition holds.
 */
export async function produceRecords(
  options: ProduceOptions,
): Promise<{ records: number; topics: string[] }> {
  const partitions = new Map<string, number>();
  for (const r of options.records)
    partitions.set(r.topic, Math.max(partitions.get(r.topic) ?? 0, r.partition + 1));
  try {
    await ensureTopics(options, partitions);
  } catch (error) {
    throw new LocalInputError(connectionProblem(error, options.brokers, options), {
      cause: error,
    });
  }

  // Idempotent: a retried request must not write again to the partitions that had succeeded.
  const producer = new Producer({
    clientId: 'dogear-produce',
    bootstrapBrokers: options.brokers,
    acks: -1,
    idempotent: true,
    ...kafkaClientOptions(options),
  });
  try {
    let sent = 0;
    for (const chunk of sendable(options.records)) {
      await producer.send({
        messages: chunk.map((r) => ({
          topic: r.topic,
          partition: r.partition,
          // An empty key or value ('' in base64) is one, not none: only null and absent are.
          ...(r.key != null ? { key: Buffer.from(r.key, 'base64') } : {}),
          ...(r.value != null ? { value: Buffer.from(r.value, 'base64') } : {}),
          // A record without a timestamp (-1) is stamped by the client, as a producer stamps it;
          // 0 is a time, the epoch. A time before it is stamped anew too: the client's record
          // encoding is not trusted with negative times.
          ...(r.timestamp >= 0 ? { timestamp: BigInt(r.timestamp) } : {}),
          headers: new Map(
            r.headers
              .flatMap((h) => Object.entries(h))
              .map(([name, bytes]) => [Buffer.from(name), Buffer.from(bytes.map((b) => b & 0xff))]),
          ),
        })),
      });
      sent += chunk.length;
      options.progress?.(`produced ${sent}/${options.records.length} records`);
    }
  } finally {
    await producer.close();
  }
  return { records: options.records.length, topics: [...partitions.keys()] };
}

/** The time a record goes out with: its own, or now for one the client stamps. */
function sentTime(record: EventRecord, now: number): number {
  return record.timestamp >= 0 ? record.timestamp : now;
}

/**
 * Chunks of at most 500 records whose times (as sent: see `sentTime`) lie within 2^31 ms of the
 * chunk's first: the client encodes a record's timestamp delta as a varint that is wrong from
 * 2^31 on.
 */
function* sendable(records: readonly EventRecord[]): Generator<EventRecord[]> {
  let chunk: EventRecord[] = [];
  const now = Date.now();
  for (const record of records) {
    const first = chunk[0];
    if (
      chunk.length === 500 ||
      (first && Math.abs(sentTime(record, now) - sentTime(first, now)) >= 2 ** 31)
    ) {
      yield chunk;
      chunk = [];
    }
    chunk.push(record);
  }
  if (chunk.length > 0) yield chunk;
}

async function ensureTopics(
  options: ProduceOptions,
  partitions: Map<string, number>,
): Promise<void> {
  const admin = new Admin({
    clientId: 'dogear-produce',
    bootstrapBrokers: options.brokers,
    ...kafkaClientOptions(options),
  });
  try {
    const existing = new Set(await admin.listTopics());
    for (const [topic, count] of partitions) {
      if (!existing.has(topic))
        await admin.createTopics({ topics: [topic], partitions: count, replicas: -1 });
    }
  } finally {
    await admin.close();
  }
}
