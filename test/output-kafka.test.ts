/**
 * The Kafka relay on the real broker, read back with Kafka's own ConsoleConsumer: partitions as
 * Java's default partitioner picks them, `dogear-origin` on every message, order per partition,
 * duplicates of a repeated relay in the partition of their first copy, and clear errors.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { consoleConsume, runKafkaTool } from '../infra/kafka.ts';
import { kafkaRelay, OutputDeliveryError } from '../src/output/index.ts';
import type { OutboxMessage } from '../src/state/index.ts';

const brokers = inject('kafkaBrokers');
const javaSource = fileURLToPath(new URL('./fixtures/java/KafkaPartitions.java', import.meta.url));
const b64 = (text: string) => Buffer.from(text).toString('base64');
let admin: Admin;

beforeAll(() => {
  admin = new Admin({ clientId: 'output-kafka-test', bootstrapBrokers: brokers.split(',') });
});
afterAll(() => admin.close());

async function createTopic(
  partitions: number,
  configs: Array<{ name: string; value: string }> = [],
) {
  const name = `relay-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  await admin.createTopics({ topics: [name], partitions, replicas: 1, configs });
  return name;
}

/** A message as a commit leaves it: the i-th of source record `offset`'s messages. */
function message(to: string, i: number, key: string | null): OutboxMessage {
  return {
    to,
    key: key === null ? null : b64(key),
    value: b64(`value-${i}`),
    headers: [
      ['trace', b64(`t${i}`)],
      ['trace', b64(`again${i}`)],
    ],
    origin: `alerts|readings|${i % 4}|${Math.floor(i / 2)}|${i % 2}`,
  };
}

/** Every message of `topic`, as kafka-console-consumer prints them. */
const consumeAll = (topic: string, count: number) =>
  consoleConsume(brokers, topic, { maxMessages: count });

/** Kafka's Java client's partition for each key (Utils.toPositive(Utils.murmur2(key)) % n). */
async function javaPartitions(keys: readonly Buffer[], partitions: number): Promise<number[]> {
  const dir = await mkdtemp(join(tmpdir(), 'dogear-relay-'));
  try {
    const input = join(dir, 'keys.txt');
    await writeFile(input, keys.map((k) => `${k.toString('hex')} ${partitions}`).join('\n'));
    const out = await runKafkaTool(javaSource, [input]);
    return out
      .trim()
      .split('\n')
      .map((line) => Number(line.split(' ')[1]));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('kafkaRelay', () => {
  test('keyed messages land where Java puts them, in order, with dogear-origin; a repeated relay duplicates into the same partitions', async () => {
    const topic = await createTopic(3);
    const keyed = Array.from({ length: 200 }, (_, i) =>
      message(topic, i, `sensor-${i % 41}-${'é'.repeat(i % 3)}`),
    );
    const keyless = Array.from({ length: 30 }, (_, i) => message(topic, 200 + i, null));
    // Keyed and keyless interleaved, as one commit's outbox holds them.
    const messages = [...keyed.slice(0, 100), ...keyless, ...keyed.slice(100)];
    const relay = kafkaRelay({ bootstrapServers: brokers.split(',') });
    try {
      await relay.send(messages);
      const first = await consumeAll(topic, messages.length);
      expect(first).toHaveLength(messages.length);

      const java = await javaPartitions(
        keyed.map((m) => Buffer.from(m.key!, 'base64')),
        3,
      );
      const byValue = new Map(first.map((c) => [c.value, c]));
      keyed.forEach((m, i) => {
        const got = byValue.get(`value-${i}`)!;
        expect(got.partition, `value-${i}`).toBe(java[i]);
        expect(got.key).toBe(Buffer.from(m.key!, 'base64').toString());
      });
      for (const m of messages) {
        const value = Buffer.from(m.value!, 'base64').toString();
        const i = value.slice('value-'.length);
        // The message's own headers in order, the repeated name kept, then its origin.
        expect(byValue.get(value)!.headers, value).toBe(
          `trace:t${i},trace:again${i},dogear-origin:${m.origin}`,
        );
      }
      // Order per partition is the send order.
      const sendIndex = new Map(
        messages.map((m, i) => [Buffer.from(m.value!, 'base64').toString(), i]),
      );
      for (const partition of [0, 1, 2]) {
        const seen = first
          .filter((c) => c.partition === partition)
          .sort((a, b) => a.offset - b.offset)
          .map((c) => sendIndex.get(c.value)!);
        expect(seen.length).toBeGreaterThan(0);
        expect(seen).toEqual([...seen].sort((a, b) => a - b));
      }

      // The relay repeated (it died after sending, before the outbox was cleared).
      await relay.send(messages);
      const both = await consumeAll(topic, messages.length * 2);
      expect(both).toHaveLength(messages.length * 2);
      const partitionsByOrigin = new Map<string, Set<number>>();
      for (const c of both) {
        const origin = /dogear-origin:([^,]*)$/.exec(c.headers)![1]!;
        const at = partitionsByOrigin.get(origin) ?? new Set();
        at.add(c.partition);
        partitionsByOrigin.set(origin, at);
      }
      expect(partitionsByOrigin.size).toBe(messages.length);
      for (const [origin, at] of partitionsByOrigin) expect([origin, at.size]).toEqual([origin, 1]);
    } finally {
      await relay.close();
    }
  });

  test('partitions added to a topic are seen once the count is older than its maximum age', async () => {
    const topic = await createTopic(2);
    const relay = kafkaRelay({ bootstrapServers: brokers.split(','), partitionCountMaxAgeMs: 500 });
    try {
      const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
      const batch = (round: number) =>
        keys.map((key, i) => ({ ...message(topic, i, key), origin: `g|t|${round}|${i}|0` }));
      await relay.send(batch(0));
      await admin.createPartitions({ topics: [{ name: topic, count: 6 }] });
      await new Promise((resolve) => setTimeout(resolve, 700));
      await relay.send(batch(1));
      const consumed = await consumeAll(topic, keys.length * 2);
      const expected = await javaPartitions(
        keys.map((k) => Buffer.from(k)),
        6,
      );
      const second = consumed.filter((c) => c.headers.includes('g|t|1|'));
      expect(second).toHaveLength(keys.length);
      for (const c of second) expect(c.partition).toBe(expected[keys.indexOf(c.key)]);
      // Some keys moved: the test would pass without a refresh otherwise.
      const before = await javaPartitions(
        keys.map((k) => Buffer.from(k)),
        2,
      );
      expect(expected.some((p, i) => p !== before[i])).toBe(true);
    } finally {
      await relay.close();
    }
  });

  test('an unknown topic is named, not created', async () => {
    const topic = `relay-missing-${Date.now()}`;
    const relay = kafkaRelay({ bootstrapServers: brokers.split(','), retries: 2 });
    try {
      const failure = await relay.send([message(topic, 0, 'k')]).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(OutputDeliveryError);
      expect((failure as OutputDeliveryError).message).toBe(
        `topic '${topic}' does not exist on Kafka at ${brokers}, so alerts|readings|0|0|0 was not delivered; create it (the relay does not create topics)`,
      );
      expect((failure as OutputDeliveryError).origin).toBe('alerts|readings|0|0|0');
      expect(await admin.listTopics()).not.toContain(topic);
    } finally {
      await relay.close();
    }
  });

  test('a name Kafka cannot have fails before any connection', async () => {
    const relay = kafkaRelay({ bootstrapServers: ['127.0.0.1:1'] });
    await expect(relay.send([message('bad topic!', 0, 'k')])).rejects.toThrow(
      "'bad topic!' is not a Kafka topic name (up to 249 letters, digits, '.', '_' or '-'), so alerts|readings|0|0|0 cannot be sent there; emit to a topic, an SQS queue ARN or an S3 bucket ARN",
    );
    await relay.close();
  });

  test("a message over the topic's max.message.bytes: its size and the fix", async () => {
    const topic = await createTopic(1, [{ name: 'max.message.bytes', value: '2000' }]);
    const relay = kafkaRelay({ bootstrapServers: brokers.split(','), retries: 2 });
    try {
      const big = { ...message(topic, 0, 'k'), value: Buffer.alloc(5000, 'x').toString('base64') };
      const failure = (await relay
        .send([message(topic, 1, 'k'), big])
        .catch((e: unknown) => e)) as Error;
      expect(failure).toBeInstanceOf(OutputDeliveryError);
      expect(failure.message).toMatch(
        new RegExp(
          `^the broker refused alerts\\|readings\\|0\\|0\\|0 to topic '${topic}' as too large \\(about 50\\d\\d bytes\\); raise the topic's max.message.bytes or emit less$`,
        ),
      );
    } finally {
      await relay.close();
    }
  });

  test('brokers that cannot be reached: the message, the reason, what to check', async () => {
    const relay = kafkaRelay({ bootstrapServers: ['127.0.0.1:1'], retries: 2, timeoutMs: 2000 });
    try {
      const failure = (await relay
        .send([message('alerts', 0, 'k')])
        .catch((e: unknown) => e)) as Error;
      expect(failure).toBeInstanceOf(OutputDeliveryError);
      expect(failure.message).toMatch(
        /^could not deliver alerts\|readings\|0\|0\|0 to topic 'alerts' at 127\.0\.0\.1:1 \(.*ECONNREFUSED.*\); it stays in the outbox and the retried invocation sends it again: check that the function reaches the brokers/,
      );
    } finally {
      await relay.close();
    }
  });
});
