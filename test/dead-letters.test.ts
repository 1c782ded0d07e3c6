/**
 * `dogear dead-letters` on the real broker: dead letters as the relay writes them (the original
 * key, value and headers, plus `dogear-dead-letter` and `dogear-origin`), listed, listed as
 * NDJSON, re-driven to their source partitions once, and not again.
 */
import { Admin, Producer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { eventRecordOf } from '../src/event/index.ts';
import { recordTopic } from '../src/local/index.ts';
import type { DeadLetterFacts } from '../src/state/index.ts';
import { killDogears, spawnDogear } from './fixtures/dogear-process.ts';

const brokers = inject('kafkaBrokers');
const FUNCTIONS = 'test/fixtures/dead-letters/functions';
const SOURCE = 'dl-readings';
const DEAD = 'dl-readings.dead-letters';

const dogear = (...args: string[]) =>
  spawnDogear(['dead-letters', ...args, '--functions', FUNCTIONS, '--idle-ms', '3000'], {
    KAFKA_BROKERS: brokers,
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
async function sourceRecords() {
  const lines: string[] = [];
  const { Writable } = await import('node:stream');
  await recordTopic({
    brokers: [brokers],
    topic: SOURCE,
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

  test('a consumer without dead letters, or with them in SQS, is refused with what to do', async () => {
    const plain = await dogear('plain');
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(
      /Consumer plain has no dead letters: it sets no deadLetter; add deadLetter/,
    );
    const queued = await dogear('queued');
    expect(queued.code).toBe(1);
    expect(queued.stderr).toMatch(
      /arn:aws:sqs:.*reads Kafka topics only so far.*aws sqs receive-message/,
    );
  });
});
