/**
 * `dogear dead-letters` on the real broker: dead letters as the relay writes them (the original
 * key, value and headers, plus `dogear-dead-letter` and `dogear-origin`), listed, listed as
 * NDJSON, re-driven to their source partitions once, and not again. The same for dead letters
 * `awsRelay` wrote to an SQS queue and an S3 bucket on moto's server.
 */
import { Admin, Producer } from '@platformatic/kafka';
import { AwsClient } from 'aws4fetch';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { GLUE_CREDENTIALS } from '../infra/glue-registry.ts';
import { awsJsonCall } from '../src/aws.ts';
import { eventRecordOf } from '../src/event/index.ts';
import { recordTopic } from '../src/local/index.ts';
import { awsRelay } from '../src/output/index.ts';
import type { DeadLetterFacts, OutboxMessage } from '../src/state/index.ts';
import { killDogears, spawnDogear } from './fixtures/dogear-process.ts';

const brokers = inject('kafkaBrokers');
const FUNCTIONS = 'test/fixtures/dead-letters/functions';
const SOURCE = 'dl-readings';
const DEAD = 'dl-readings.dead-letters';

const endpoint = inject('glueRegistryEndpoint');
const region = inject('glueRegistryRegion');

const dogear = (...args: string[]) =>
  spawnDogear(['dead-letters', ...args, '--functions', FUNCTIONS, '--idle-ms', '3000'], {
    KAFKA_BROKERS: brokers,
    DOGEAR_AWS_ENDPOINT: endpoint,
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: GLUE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: GLUE_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: undefined,
  }).exit();

function facts(partition: number, offset: number, message: string): DeadLetterFacts {
  return {
    consumer: 'strict',
    group: 'strict',
    topic: SOURCE,
    partition,
    offset,
    timestamp: 1_764_000_000_000 + offset,
    attempts: 2,
    error: { name: 'RecordDecodeError', message },
    at: Date.UTC(2026, 0, 2, 3, 4, 5),
  };
}

/** A dead letter as the relay sends it to Kafka. */
function letter(deadPartition: number, f: DeadLetterFacts, value: string) {
  return {
    topic: DEAD,
    partition: deadPartition,
    key: Buffer.from(`sensor-${f.offset}`),
    value: Buffer.from(value),
    headers: new Map([
      [Buffer.from('trace'), Buffer.from(`t-${f.offset}`)],
      [Buffer.from('dogear-dead-letter'), Buffer.from(JSON.stringify(f))],
      [Buffer.from('dogear-origin'), Buffer.from(`strict|${SOURCE}|${f.partition}|${f.offset}|0`)],
    ]),
  };
}

async function produce(messages: ReturnType<typeof letter>[]) {
  const producer = new Producer({ clientId: 'dl-test', bootstrapBrokers: [brokers], acks: -1 });
  try {
    await producer.send({ messages });
  } finally {
    await producer.close();
  }
}

/** The source topic's records as `dogear record` reads them. */
async function sourceRecords(topic = SOURCE) {
  const lines: string[] = [];
  const { Writable } = await import('node:stream');
  await recordTopic({
    brokers: [brokers],
    topic,
    idleMs: 3000,
    out: new Writable({
      write(chunk: Buffer, _, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    }),
  });
  return lines.map((l, i) => eventRecordOf(JSON.parse(l), `line ${i}`));
}

const headersOf = (record: { headers: Array<Record<string, number[]>> }) =>
  Object.fromEntries(
    record.headers.flatMap((h) =>
      Object.entries(h).map(([n, b]) => [n, Buffer.from(b.map((x) => x & 0xff)).toString()]),
    ),
  );

beforeAll(async () => {
  const admin = new Admin({ clientId: 'dl-test', bootstrapBrokers: [brokers] });
  try {
    await admin.createTopics({ topics: [SOURCE], partitions: 3, replicas: -1 });
    await admin.createTopics({ topics: [DEAD], partitions: 2, replicas: -1 });
  } finally {
    await admin.close();
  }
  await produce([
    letter(0, facts(1, 4, 'value is not JSON'), '{"celsius": 3'),
    letter(1, facts(2, 7, 'celsius: expected number'), '{"celsius":"hot"}'),
    letter(0, facts(1, 9, 'value is not JSON'), 'warm'),
  ]);
});
afterAll(killDogears);

describe('dogear dead-letters', () => {
  test('lists each dead letter: source coordinates, attempts, error, when', async () => {
    const run = await dogear('strict');
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n').sort();
    expect(lines).toEqual([
      `${SOURCE}-1@4  2 attempts  RecordDecodeError: value is not JSON  2026-01-02T03:04:05.000Z`,
      `${SOURCE}-1@9  2 attempts  RecordDecodeError: value is not JSON  2026-01-02T03:04:05.000Z`,
      `${SOURCE}-2@7  2 attempts  RecordDecodeError: celsius: expected number  2026-01-02T03:04:05.000Z`,
    ]);
    expect(run.stderr).toContain(`strict: 3 dead letters in ${DEAD}`);
  });

  test('--json prints one object a line, with the facts, origin and the original bytes', async () => {
    const run = await dogear('strict', '--json');
    expect(run.code, run.stderr).toBe(0);
    const entries = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(entries).toHaveLength(3);
    const first = entries.find((e) => e.facts.offset === 4)!;
    expect(first).toMatchObject({
      partition: 0,
      facts: facts(1, 4, 'value is not JSON'),
      origin: `strict|${SOURCE}|1|4|0`,
      key: Buffer.from('sensor-4').toString('base64'),
      value: Buffer.from('{"celsius": 3').toString('base64'),
      headers: [['trace', Buffer.from('t-4').toString('base64')]],
      replayed: false,
    });
  });

  test('--replay re-drives each to its source partition once; a second --replay sends nothing; a new one goes next time', async () => {
    const first = await dogear('strict', '--replay');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('3 replayed now');
    let records = await sourceRecords();
    expect(
      records.map((r) => ({
        partition: r.partition,
        key: Buffer.from(r.key!, 'base64').toString(),
        value: Buffer.from(r.value!, 'base64').toString(),
        headers: headersOf(r),
      })),
    ).toEqual([
      {
        partition: 1,
        key: 'sensor-4',
        value: '{"celsius": 3',
        headers: { trace: 't-4', 'dogear-redriven-from': `${SOURCE}|1|4` },
      },
      {
        partition: 1,
        key: 'sensor-9',
        value: 'warm',
        headers: { trace: 't-9', 'dogear-redriven-from': `${SOURCE}|1|9` },
      },
      {
        partition: 2,
        key: 'sensor-7',
        value: '{"celsius":"hot"}',
        headers: { trace: 't-7', 'dogear-redriven-from': `${SOURCE}|2|7` },
      },
    ]);

    const second = await dogear('strict', '--replay');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('0 replayed now');
    expect(second.stdout).toContain('(replayed)');
    expect(await sourceRecords()).toHaveLength(3);

    await produce([letter(1, facts(0, 11, 'boom'), '{}')]);
    const third = await dogear('strict', '--replay');
    expect(third.stderr).toContain('1 replayed now');
    records = await sourceRecords();
    expect(records).toHaveLength(4);
    expect(records.filter((r) => r.partition === 0).map(headersOf)).toEqual([
      { trace: 't-11', 'dogear-redriven-from': `${SOURCE}|0|11` },
    ]);
  });

  test('a consumer without dead letters is refused with what to do', async () => {
    const plain = await dogear('plain');
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(
      /Consumer plain has no dead letters: it sets no deadLetter; add deadLetter/,
    );
  });
});

/** A dead letter as the runtime leaves it in the outbox for `awsRelay`. */
function outboxLetter(to: string, f: DeadLetterFacts, value: string): OutboxMessage {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return {
    to,
    key: b64(`sensor-${f.offset}`),
    value: b64(value),
    headers: [
      ['trace', b64(`t-${f.offset}`)],
      ['dogear-dead-letter', b64(JSON.stringify(f))],
    ],
    origin: `${f.group}|${f.topic}|${f.partition}|${f.offset}|0`,
    deadLetter: f,
  };
}

for (const store of ['queue', 'bucket'] as const) {
  const consumer = store === 'queue' ? 'queued' : 'bucketed';
  const source = store === 'queue' ? 'dl-queued' : 'dl-bucketed';
  const to =
    store === 'queue' ? `arn:aws:sqs:${region}:123456789012:dl-queued` : 'arn:aws:s3:::dl-bucketed';
  const awsFacts = (partition: number, offset: number): DeadLetterFacts => ({
    ...facts(partition, offset, `reading ${offset} is not a number`),
    consumer: consumer === 'queued' ? 'Queued' : 'Bucketed',
    group: consumer,
    topic: source,
  });

  describe(`dogear dead-letters, dead letters in an ${store === 'queue' ? 'SQS queue' : 'S3 bucket'} on moto`, () => {
    beforeAll(async () => {
      expect(region).toBe('us-east-1'); // the fixture's queue ARN names it
      const admin = new Admin({ clientId: 'dl-test', bootstrapBrokers: [brokers] });
      try {
        await admin.createTopics({ topics: [source], partitions: 3, replicas: -1 });
      } finally {
        await admin.close();
      }
      if (store === 'queue') {
        const made = await awsJsonCall(
          { service: 'sqs', region, endpoint, target: 'AmazonSQS.CreateQueue', version: '1.0' },
          { QueueName: 'dl-queued' },
          async () => GLUE_CREDENTIALS,
        );
        expect(made.status).toBe(200);
      } else {
        const s3 = new AwsClient({ ...GLUE_CREDENTIALS, service: 's3', region, retries: 0 });
        const made = await s3.fetch(`${endpoint}/dl-bucketed`, { method: 'PUT' });
        expect(made.status).toBe(200);
      }
      await awsRelay({ endpoint, region, credentials: async () => GLUE_CREDENTIALS }).send([
        outboxLetter(to, awsFacts(1, 4), '{"celsius": 3'),
        outboxLetter(to, awsFacts(2, 7), 'warm'),
      ]);
    });

    test('lists each, and --json prints the facts, origin and original bytes', async () => {
      const run = await dogear(consumer);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim().split('\n').sort()).toEqual([
        `${source}-1@4  2 attempts  RecordDecodeError: reading 4 is not a number  2026-01-02T03:04:05.000Z`,
        `${source}-2@7  2 attempts  RecordDecodeError: reading 7 is not a number  2026-01-02T03:04:05.000Z`,
      ]);
      expect(run.stderr).toContain(`${consumer}: 2 dead letters in ${to}`);

      // Listing again sees them again: a queue's messages were made visible at its end.
      const json = await dogear(consumer, '--json');
      expect(json.code, json.stderr).toBe(0);
      const entries = json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(entries).toHaveLength(2);
      const first = entries.find((e) => e.facts.offset === 4)!;
      expect(first).toEqual({
        ...(store === 'queue'
          ? { messageId: expect.any(String) }
          : { objectKey: `${consumer}/${source}/1/4.json` }),
        facts: awsFacts(1, 4),
        origin: `${consumer}|${source}|1|4|0`,
        key: Buffer.from('sensor-4').toString('base64'),
        value: Buffer.from('{"celsius": 3').toString('base64'),
        headers: [['trace', Buffer.from('t-4').toString('base64')]],
        replayed: false,
      });
    });

    test('--replay re-drives each to its source partition and deletes it; a second --replay sends nothing', async () => {
      const first = await dogear(consumer, '--replay');
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toContain('2 replayed now');
      const records = await sourceRecords(source);
      expect(
        records.map((r) => ({
          partition: r.partition,
          key: Buffer.from(r.key!, 'base64').toString(),
          value: Buffer.from(r.value!, 'base64').toString(),
          headers: headersOf(r),
        })),
      ).toEqual([
        {
          partition: 1,
          key: 'sensor-4',
          value: '{"celsius": 3',
          headers: { trace: 't-4', 'dogear-redriven-from': `${source}|1|4` },
        },
        {
          partition: 2,
          key: 'sensor-7',
          value: 'warm',
          headers: { trace: 't-7', 'dogear-redriven-from': `${source}|2|7` },
        },
      ]);

      const second = await dogear(consumer, '--replay');
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toContain(`${consumer}: 0 dead letters in ${to}, 0 replayed now`);
      expect(second.stdout).toBe('');
      expect(await sourceRecords(source)).toHaveLength(2);
    });
  });
}

test('--replay refuses a dead letter that kept no bytes, and replays nothing, saying how to re-drive it', async () => {
  const s3 = new AwsClient({ ...GLUE_CREDENTIALS, service: 's3', region, retries: 0 });
  expect((await s3.fetch(`${endpoint}/dl-omitted`, { method: 'PUT' })).status).toBe(200);
  const big: DeadLetterFacts = {
    ...facts(0, 3, 'too big to keep'),
    consumer: 'Omitted',
    group: 'omitted',
    topic: 'dl-omitted',
    omitted: { keyBytes: 4, valueBytes: 600_000 },
  };
  await awsRelay({ endpoint, region, credentials: async () => GLUE_CREDENTIALS }).send([
    {
      ...outboxLetter('arn:aws:s3:::dl-omitted', big, ''),
      key: null,
      value: null,
      headers: [],
    },
  ]);
  const run = await dogear('omitted', '--replay');
  expect(run.code).not.toBe(0);
  expect(run.stderr).toMatch(
    /dead letter of dl-omitted-0@3 kept no bytes \(its key and value were 4 and 600000 bytes\).*nothing was replayed.*kafka-console-consumer --topic dl-omitted --partition 0 --offset 3/,
  );
  // Still there: nothing was deleted.
  const listed = await dogear('omitted', '--json');
  expect(listed.stdout.trim().split('\n')).toHaveLength(1);
});
